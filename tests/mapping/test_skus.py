"""SKU bindings: resolving, rewriting records, listing SKUs, and reading bindings files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import RecordError
from mapping.records import Order, OrderLine, Product, Shipment, ShipmentLine, StockLevel, StockMove
from mapping.skus import Binder, SkuBinding, external_skus, read_bindings_csv

PACK6 = SkuBinding("shopify", "IPOD-6PK", "IPOD", 6)
RENAMED = SkuBinding("shopify", "ipod-green", "IPOD-G")


def binder(mode: str = "bound") -> Binder:
    return Binder("shopify", {b.external_sku: b for b in (PACK6, RENAMED)}, mode)  # type: ignore[arg-type]


def an_order(*lines: OrderLine) -> Order:
    return Order(channel="shopify", external_id="1", status="paid", lines=lines)


def test_resolve_in_both_modes() -> None:
    assert binder("bound").resolve("IPOD-6PK") == ("IPOD", 6)
    assert binder("identity").resolve("IPOD-6PK") == ("IPOD", 6)
    assert binder("identity").resolve("OTHER") == ("OTHER", 1)


def test_unmapped_sku_in_bound_mode() -> None:
    with pytest.raises(RecordError) as caught:
        binder("bound").resolve("OTHER")
    assert caught.value.code == "unmapped_sku"
    assert caught.value.message == (
        "no SKU binding for shopify:OTHER; add it with `erpsync mapping import-skus` or in the config"
    )


def test_pack_of_six_order_line() -> None:
    bound = binder().apply(an_order(OrderLine(sku="IPOD-6PK", qty=2, unit_price=Decimal(60))))
    assert isinstance(bound, Order)
    assert bound.lines == (OrderLine(sku="IPOD", qty=12, unit_price=Decimal(10)),)


def test_unmapped_order_line_names_the_line() -> None:
    order = an_order(OrderLine(sku="ipod-green", qty=1), OrderLine(sku="NOPE", qty=1))
    with pytest.raises(RecordError) as caught:
        binder().apply(order)
    assert caught.value.code == "unmapped_sku"
    assert caught.value.field == "lines[1].sku"


def test_stock_product_and_shipment() -> None:
    b = binder()
    assert b.apply(StockLevel(sku="IPOD-6PK", location="WH", on_hand=3)) == StockLevel(
        sku="IPOD", location="WH", on_hand=18
    )
    assert b.apply(Product(sku="ipod-green", name="iPod")) == Product(sku="IPOD-G", name="iPod")
    shipment = Shipment(
        channel="shopify",
        order_external_id="1",
        carrier="UPS",
        tracking_no="Z1",
        lines=(ShipmentLine(sku="IPOD-6PK", qty=1),),
    )
    bound = b.apply(shipment)
    assert isinstance(bound, Shipment)
    assert bound.lines == (ShipmentLine(sku="IPOD", qty=6),)


def test_identity_mode_keeps_unbound_records_as_they_are() -> None:
    stock = StockLevel(sku="OTHER", location="WH", on_hand=3)
    assert binder("identity").apply(stock) is stock


def test_binder_refuses_bad_mode_and_misfiled_bindings() -> None:
    with pytest.raises(ValueError, match="binding mode must be"):
        Binder("shopify", {}, "strict")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="filed under jd:IPOD-6PK"):
        Binder("jd", {"IPOD-6PK": PACK6})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("s", "x", ""), "sku must be non-empty"),
        (("s", "x", "y", 0), "uom_factor must be a positive"),
        (("s", "x", "y" * 65), "longer than 64"),
    ],
)
def test_binding_validation(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SkuBinding(*args)  # type: ignore[arg-type]


def test_external_skus_from_records_and_dicts() -> None:
    items = [
        StockLevel(sku="A", location="WH", on_hand=1),
        an_order(OrderLine(sku="B", qty=1), OrderLine(sku="C", qty=1)),
        {"sku": "D"},
        {"lines": [{"sku": "E"}, {"qty": 1}]},
        {"name": "no sku"},
    ]
    assert external_skus(items) == {"A", "B", "C", "D", "E"}


# -- CSV --------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "bindings.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_read_csv_with_bom(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "system,external_sku,sku,uom_factor\r\nshopify,IPOD-6PK,IPOD,6\r\njd,京东-1,IPOD,\r\n",
        bom=True,
    )
    assert read_bindings_csv(path) == [PACK6, SkuBinding("jd", "京东-1", "IPOD", 1)]


def test_read_csv_with_default_system_and_no_factor_column(tmp_path: Path) -> None:
    path = write(tmp_path, "external_sku,sku\nIPOD-6PK,IPOD\nipod-green, IPOD-G \n")
    assert read_bindings_csv(path, default_system="shopify") == [
        SkuBinding("shopify", "IPOD-6PK", "IPOD"),
        RENAMED,
    ]


def test_identical_duplicates_are_merged(tmp_path: Path) -> None:
    path = write(
        tmp_path, "system,external_sku,sku,uom_factor\nshopify,IPOD-6PK,IPOD,6\nshopify,IPOD-6PK,IPOD,6\n"
    )
    assert read_bindings_csv(path) == [PACK6]


def test_three_bad_rows_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "system,external_sku,sku,uom_factor\n"
        "shopify,A,SKU-A,1\n"
        "shopify,B,,1\n"
        "shopify,C,SKU-C,-2\n"
        "shopify,D,SKU-D,1\n"
        "shopify,A,SKU-X,1\n",
    )
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        read_bindings_csv(path)
    assert str(caught.value).splitlines() == [
        f"{path}:3 sku: empty",
        f"{path}:4 uom_factor: '-2' is not a positive whole number",
        f"{path}:6 sku: duplicate shopify:A conflicts with SKU-A x1 on line 2",
    ]


def test_short_row_non_integer_factor_and_missing_system(tmp_path: Path) -> None:
    path = write(tmp_path, "system,external_sku,sku,uom_factor\nshopify,A\n,B,SKU-B,1.5\n")
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        read_bindings_csv(path)
    assert str(caught.value).splitlines() == [
        f"{path}:2 sku: missing value",
        f"{path}:3 system: empty (and no default system given)",
        f"{path}:3 uom_factor: '1.5' is not a positive whole number",
    ]


def test_bad_header(tmp_path: Path) -> None:
    path = write(tmp_path, "system,external,sku\nshopify,A,B\n")
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        read_bindings_csv(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}:1 header: missing column 'external_sku'"
    assert lines[1] == f"{path}:1 header: unknown column 'external'"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("external_sku,sku\n京东,A\n".encode("gbk"))
    with pytest.raises(ValueError, match=r"gbk\.csv: not UTF-8 text"):
        read_bindings_csv(path, default_system="jd")


def test_a_decimal_stock_quantity_becomes_whole_base_units_through_the_unit_factor() -> None:
    binder = Binder("erp", {"FLOUR": SkuBinding("erp", "FLOUR", "FLOUR-G", 1000)})
    level = binder.apply(StockLevel(sku="FLOUR", location="WH1", on_hand="12.5"))
    assert level == StockLevel(sku="FLOUR-G", location="WH1", on_hand=12500)
    assert type(level.on_hand) is int
    move = binder.apply(StockMove(sku="FLOUR", location="WH1", delta=-0.25, move_id="M1"))
    assert move.delta == -250


def test_a_fraction_left_after_the_factor_is_refused_saying_how_to_fix_it() -> None:
    with pytest.raises(RecordError) as caught:
        Binder("erp", {}, units={"FLOUR": "kg"}).apply(StockLevel(sku="FLOUR", location="WH1", on_hand=12.5))
    assert (caught.value.code, caught.value.field) == ("fractional_qty", "on_hand")
    assert caught.value.message.startswith(
        "on_hand: 12.5 kg of SKU FLOUR is not a whole number of base units; stock is counted in whole "
        "base units: bind erp:FLOUR with a uom_factor that makes it whole (1000 counts kg as g)"
    )
    binder = Binder("erp", {"F": SkuBinding("erp", "F", "FLOUR", 10)})
    with pytest.raises(RecordError, match=r"on_hand: 12\.25 of SKU FLOUR x uom_factor 10 = 122\.50 is not"):
        binder.apply(StockLevel(sku="F", location="WH1", on_hand="12.25"))
