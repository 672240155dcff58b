"""Fetching dropped files from an SFTP server into the file-drop connector's local folder.

Some distributors upload their stock lists to an SFTP server instead of a shared folder. With
``sftp:`` in a ``kind: file`` connector, each fetch first calls :func:`download_new`: every remote
file in ``remote_folder`` matching ``pattern`` is downloaded to ``<folder>/.<name>.part`` (hidden:
the file connector skips it), renamed into place with ``os.replace`` and then deleted, moved to
``done_folder`` on the server, or kept there (``after_download``). A local file of the same name is
never overwritten by different bytes: the download gets a numeric suffix (``stock-1.csv``). Its
modification time is the remote one, so the file connector's ``min_age_s`` applies to the upload.

.. code-block:: yaml

    kind: file
    folder: /srv/drop/south
    columns: {物料编码: sku, 仓库: location, 数量: qty}
    sftp:
      host: sftp.distributor.example
      username: erpsync
      key_file: /etc/erpsync/id_ed25519      # or password: ...
      remote_folder: /outbox
      host_key: AAAAC3NzaC1lZDI1NTE5AAAAI...  # from ssh-keyscan; else known_hosts must know it

Exactly once needs nothing here: the file connector imports a file's bytes once (by SHA-256). A
crash between the download and ``after_download`` leaves the remote file in place; the next run
downloads it again and the file connector files the copy in ``done/`` unread. With ``keep`` every
run downloads every remote file again (harmless, for read-only accounts).

Only plain file names are fetched. The server chooses the names it lists, and a name that is
absolute (``/etc/cron.d/x.csv``), has a path separator (``/`` or ``\\``: ``../x.csv`` too), a NUL
or another control character, is empty, ``.``, ``..`` or longer than 200 bytes could be written
outside the drop folder or break it: such an entry is never downloaded nor touched on the server; it is
logged and, given ``report_dir`` (the file connector's ``failed/``), reported there once
(:func:`connectors.dropreport.report_entry`).

Host keys are checked: against ``known_hosts`` (a file) or the system's known hosts, or only
against ``host_key`` when pinned. An unknown or changed key is refused, never silently accepted.

Errors: ``AuthError`` when the server refuses the credentials; ``RetriableError`` for a refused
or timed-out connection and other network or SSH transport trouble; ``PermanentError`` for an
unknown host key, a missing remote folder or a permission refused; ``ConfigError`` when paramiko
is not installed (``pip install erpsync[sftp]``). The password is registered with
:func:`core.redact.register_secret` and never logged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import os
import posixpath
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.dropreport import Problem, printable, report_entry
from core.errors import AuthError, ConfigError, ErpsyncError, PermanentError, RetriableError
from core.redact import register_secret

log = structlog.get_logger(__name__)


class SftpSettings(BaseModel):
    """Where and how to fetch files over SFTP (``sftp:`` of a ``kind: file`` connector)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    key_file: str | None = None
    remote_folder: str = Field(min_length=1)
    pattern: list[str] = Field(default_factory=lambda: ["*.csv", "*.xlsx"], min_length=1)
    after_download: Literal["delete", "move", "keep"] = "move"
    done_folder: str = Field(default="done", min_length=1)
    known_hosts: str | None = None
    host_key: str | None = None
    timeout_s: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _has_credentials(self) -> SftpSettings:
        if self.password is None and self.key_file is None:
            raise ValueError("give password or key_file")
        if self.host_key is not None:
            pinned_key_blob(self.host_key)
        return self


def pinned_key_blob(host_key: str) -> bytes:
    """The key bytes of ``host_key``: its base64, or an ``ssh-keyscan`` line holding it."""
    for token in host_key.split():
        if token.startswith("AAAA"):
            with contextlib.suppress(binascii.Error, ValueError):
                return base64.b64decode(token, validate=True)
    raise ValueError("host_key is not a base64 SSH public key (take it from ssh-keyscan)")


def download_new(
    settings: SftpSettings,
    local_folder: Path,
    connector: str = "sftp",
    stream: str | None = None,
    report_dir: Path | None = None,
) -> list[Path]:
    """The local paths of the remote files downloaded into ``local_folder`` (oldest first).

    A remote name that is not a plain file name is skipped, logged and, with ``report_dir``,
    reported there once (:func:`connectors.dropreport.report_entry`).
    """
    try:
        return _download_all(settings, local_folder, connector, report_dir)
    except ErpsyncError as err:
        err.stream = err.stream or stream
        raise


def plain_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name to write into the drop folder (None when it is)."""
    if name in ("", ".", ".."):
        return f"{'an empty name' if not name else repr(name)} is not a file name"
    if "/" in name or "\\" in name:
        return "a name with a path separator (/ or \\) could be written outside the drop folder"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        return "a name with control characters"
    if len(name.encode("utf-8")) > 200:
        return "a name longer than 200 bytes"
    return None


def _download_all(
    settings: SftpSettings, local_folder: Path, connector: str, report_dir: Path | None
) -> list[Path]:
    if settings.password is not None:
        register_secret(settings.password.get_secret_value())
    if not local_folder.is_dir() or not os.access(local_folder, os.W_OK):
        raise PermanentError(
            f"the drop folder {local_folder} does not exist or is not writable", connector=connector
        )
    paramiko = _import_paramiko(connector)
    where = f"sftp://{settings.host}:{settings.port}/{settings.remote_folder.lstrip('/')}"
    downloaded: list[Path] = []
    with _sftp_session(paramiko, settings, connector) as sftp:
        doing = f"cannot list {where}"
        try:
            entries = _plain(sftp.listdir_attr(settings.remote_folder), where, connector, report_dir)
            for _, name in sorted((e.st_mtime or 0, e.filename) for e in entries if _is_wanted(e, settings)):
                doing = f"cannot fetch {where}/{name}"
                downloaded.append(
                    _download(sftp, posixpath.join(settings.remote_folder, name), local_folder / name)
                )
                _after_download(sftp, settings, name)
                log.info("sftp file downloaded", connector=connector, file=name, local=downloaded[-1].name)
        except OSError as exc:
            raise _remote_error(exc, doing, connector) from None
        except (paramiko.SSHException, EOFError) as exc:  # the connection broke mid-transfer
            raise RetriableError(f"{doing}: {exc or type(exc).__name__}", connector=connector) from None
    return downloaded


def _import_paramiko(connector: str) -> Any:
    try:
        import paramiko  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "the sftp settings need paramiko, which is not installed",
            connector=connector,
            hint="pip install erpsync[sftp]",
        ) from None
    return paramiko


@contextlib.contextmanager
def _sftp_session(paramiko: Any, settings: SftpSettings, connector: str) -> Iterator[Any]:
    """An open SFTP client on a host whose key was checked; closed on leaving."""
    if settings.key_file is not None and not Path(settings.key_file).is_file():
        raise ConfigError(f"the sftp key_file {settings.key_file} does not exist", connector=connector)
    client = paramiko.SSHClient()
    server = settings.host if settings.port == 22 else f"[{settings.host}]:{settings.port}"
    _trust_host_keys(paramiko, client, settings, server, connector)
    try:
        client.connect(
            settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            key_filename=settings.key_file,
            timeout=settings.timeout_s,
            banner_timeout=settings.timeout_s,
            auth_timeout=settings.timeout_s,
            allow_agent=False,
            look_for_keys=False,
        )
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(settings.timeout_s)
    except paramiko.AuthenticationException as exc:
        client.close()
        raise AuthError(
            f"{settings.host} refused user {settings.username}: {exc}",
            connector=connector,
            hint="check sftp username, password or key_file",
        ) from None
    except paramiko.BadHostKeyException:
        client.close()
        raise PermanentError(
            f"the host key of {server} is not the one expected: possibly an attack",
            connector=connector,
            hint="if the server's key really changed, verify it and update host_key or known_hosts",
        ) from None
    except paramiko.SSHException as exc:
        client.close()
        if "known_hosts" in str(exc):  # RejectPolicy refused an unknown key
            raise PermanentError(
                f"the host key of {server} is unknown",
                connector=connector,
                hint="pin it with sftp host_key (from ssh-keyscan, after checking its fingerprint)",
            ) from None
        raise RetriableError(f"SSH to {server} failed: {exc}", connector=connector) from None
    except (OSError, EOFError) as exc:
        client.close()
        raise RetriableError(f"cannot connect to {server}: {exc}", connector=connector) from None
    try:
        yield sftp
    finally:
        client.close()


def _trust_host_keys(paramiko: Any, client: Any, settings: SftpSettings, server: str, connector: str) -> None:
    """Make ``client`` accept only the pinned key, else those known_hosts lists for ``server``."""
    try:
        if settings.host_key is not None:  # pinned: that key and no other
            blob = pinned_key_blob(settings.host_key)
            key_type = paramiko.Message(blob).get_text()
            client.get_host_keys().add(server, key_type, paramiko.PKey.from_type_string(key_type, blob))
        elif settings.known_hosts is not None:
            client.load_host_keys(settings.known_hosts)
        else:
            client.load_system_host_keys()  # a missing ~/.ssh/known_hosts is simply empty
    except (OSError, ValueError, paramiko.SSHException, paramiko.pkey.UnknownKeyType) as exc:
        raise ConfigError(
            f"cannot use the sftp host key settings ({type(exc).__name__}: {exc})",
            connector=connector,
            hint="host_key takes the base64 key ssh-keyscan prints; known_hosts a readable file",
        ) from None
    client.set_missing_host_key_policy(paramiko.RejectPolicy())


def _plain(entries: list[Any], where: str, connector: str, report_dir: Path | None) -> list[Any]:
    """The entries whose names are plain file names; the others are logged and reported."""
    plain = []
    for entry in entries:
        problem = plain_name_problem(entry.filename)
        if problem is None:
            plain.append(entry)
            continue
        shown = printable(entry.filename)
        if report_dir is None:
            log.warning("sftp entry skipped", connector=connector, entry=shown, problem=problem)
            continue
        found = Problem(None, "remote file name", shown, f"{problem}; skipped on {where}")
        report_entry(report_dir, "sftp-remote-name.txt", entry.filename, found, connector=connector)
    return plain


def _is_wanted(entry: Any, settings: SftpSettings) -> bool:
    name = entry.filename.lower()
    if name.startswith(".") or not stat.S_ISREG(entry.st_mode or 0):
        return False
    return any(fnmatch.fnmatch(name, pattern.lower()) for pattern in settings.pattern)


def _download(sftp: Any, remote: str, target: Path) -> Path:
    """Where the remote file landed: ``target``, or a suffixed name when another file holds it."""
    part = target.with_name(f".{target.name}.part")
    try:
        attrs = sftp.stat(remote)
        sftp.get(remote, str(part))  # checks the size it got against the server's
        if attrs.st_mtime is not None:  # the upload's time, for the file connector's min_age_s
            os.utime(part, (attrs.st_atime or attrs.st_mtime, attrs.st_mtime))
        final, number = target, 0
        while final.exists():
            if _sha256(final) == _sha256(part):  # already here (a crash before after_download)
                return final
            number += 1
            final = target.with_name(f"{target.stem}-{number}{target.suffix}")
        os.replace(part, final)
        return final
    finally:
        part.unlink(missing_ok=True)


def _after_download(sftp: Any, settings: SftpSettings, name: str) -> None:
    remote = posixpath.join(settings.remote_folder, name)
    if settings.after_download == "delete":
        sftp.remove(remote)
    elif settings.after_download == "move":
        done = posixpath.join(settings.remote_folder, settings.done_folder)
        if not _remote_exists(sftp, done):
            sftp.mkdir(done)
        stem, suffix = posixpath.splitext(name)
        target, number = posixpath.join(done, name), 0
        while _remote_exists(sftp, target):  # keep earlier uploads of the same name
            number += 1
            target = posixpath.join(done, f"{stem}-{number}{suffix}")
        sftp.rename(remote, target)


def _remote_exists(sftp: Any, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _remote_error(exc: OSError, doing: str, connector: str) -> PermanentError | RetriableError:
    """An SFTP failure mapped onto the error tree: refusals are permanent, the rest passing."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, FileNotFoundError | PermissionError):
        hint = "check sftp remote_folder and the account's rights (after_download needs write access)"
        return PermanentError(f"{doing}: {reason}", connector=connector, hint=hint)
    return RetriableError(f"{doing}: {reason}", connector=connector)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
