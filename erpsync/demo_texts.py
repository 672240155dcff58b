"""What ``make demo`` says around erpsync's own output, in English and Simplified Chinese.

``{…}`` fields are filled in by ``erpsync.demo``; erpsync's own tables stay in English.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoTexts:
    """The headings and notes of one language."""

    intro: str
    validate: str
    schema: str
    bindings: str
    run: str
    status: str
    stock: str
    stock_columns: tuple[str, ...]
    orders: str
    order_columns: tuple[str, ...]
    yes: str
    no: str
    routed: str
    dispatch: str
    notes: str
    quarantine: str
    shortage: str
    drift: str
    other_alerts: str
    message: str
    shop: str
    shop_columns: tuple[str, ...]
    explain: str
    next: str
    next_note: str


HEADINGS = {
    "en": DemoTexts(
        intro="simulated ERP and shop at {url}; config in {config}",
        validate="validate the config",
        schema="create the database schema",
        bindings="import SKU bindings",
        run="run the service for {seconds} s while the ERP and the shop change",
        status="stream status",
        stock="stock levels",
        stock_columns=("sku", "location", "on hand", "reserved"),
        orders="orders as stored",
        order_columns=(
            "order",
            "erpsync status",
            "channel status",
            "ship-to region",
            "lines (base units)",
            "address encrypted",
        ),
        yes="yes",
        no="no",
        routed="orders: routed to the distributor serving the buyer's region",
        dispatch="dispatch instructions sent to the warehouses",
        notes="{count} dispatch notes written as CSV files for warehouses without an API; "
        "showing {shown} of {count}",
        quarantine="quarantine (records a person must look at)",
        shortage="shortage alerts raised for the distributors",
        drift="channel drift alerts (a shop shows other quantities than erpsync pushed)",
        other_alerts="other alerts, for IT staff",
        message="the message head office would receive (the demo has no mail server)",
        shop="what the shop shows now (pushed by erpsync)",
        shop_columns=("shop sku", "quantity"),
        explain="why the shop shows what it shows for cups (limited by a rule)",
        next="next: look around",
        next_note="From this directory, nothing to export. The simulated ERP and shop stopped with the demo: "
        "these commands read the database only.",
    ),
    "zh-CN": DemoTexts(
        intro="模拟的 ERP 和网店：{url}；配置文件：{config}",
        validate="检查配置文件",
        schema="创建数据库表结构",
        bindings="导入 SKU 映射",
        run="运行服务 {seconds} 秒，期间 ERP 和网店的数据不断变化",
        status="各数据流的状态",
        stock="库存",
        stock_columns=("SKU", "库位", "现有", "已预留"),
        orders="已入库的订单",
        order_columns=("订单", "erpsync 状态", "渠道状态", "收货地区", "明细（基本单位）", "地址已加密"),
        yes="是",
        no="否",
        routed="订单：分配给负责买家所在地区的经销商",
        dispatch="发给各仓库的发货单",
        notes="为没有接口的仓库写出 {count} 张 CSV 发货单；显示其中 {shown} 张",
        quarantine="隔离区（需要人工处理的记录）",
        shortage="经销商的缺货预警",
        drift="渠道库存偏差预警（网店显示的数量与 erpsync 推送的不一致）",
        other_alerts="其他预警（给 IT 人员）",
        message="总部将收到的消息（演示环境没有邮件服务器）",
        shop="网店当前显示的库存（由 erpsync 推送）",
        shop_columns=("网店 SKU", "数量"),
        explain="网店为何这样显示杯子的库存（受规则限制）",
        next="接下来：看看各项数据",
        next_note="在此目录下运行，无需设置环境变量。模拟的 ERP 和网店已随演示结束：以下命令只读取数据库。",
    ),
}
