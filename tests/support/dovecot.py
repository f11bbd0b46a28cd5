"""A real IMAP server for tests: Debian's Dovecot on a free loopback port.

Each server has a throwaway configuration, a passwd-file user and a maildir in
a temp folder; messages are delivered by writing files into the maildir's
`new/` folder, as a local delivery agent would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port

USER = "ana@sales.tune.test"
PASSWORD = "imap-test-password"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


class Dovecot:
    """One Dovecot instance; `start`, `stop` (a restart keeps the maildir), `deliver`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tune-dovecot-"))
        self.root.chmod(0o755)  # Dovecot's unprivileged processes must reach their sockets
        self.port = free_port()
        if os.getuid() == 0:
            mail = pwd.getpwnam("dovecot")
            self.uid, self.gid = mail.pw_uid, mail.pw_gid
            login_user, internal_user = "dovenull", "dovecot"
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            login_user = internal_user = pwd.getpwuid(self.uid).pw_name
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (self.root / "dovecot.conf").write_text(
            CONFIG.format(
                root=self.root,
                port=self.port,
                uid=self.uid,
                gid=self.gid,
                login_user=login_user,
                internal_user=internal_user,
            )
        )
        self.maildir = self.root / "home" / USER / "Maildir"
        for folder in ("new", "cur", "tmp"):
            (self.maildir / folder).mkdir(parents=True)
        self._own(self.root / "home")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        user = USER.replace("@", "%40")
        return f"imap://{user}:{PASSWORD}@127.0.0.1:{self.port}/INBOX?starttls=false"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: `stop` ends every child too
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        """Stop the server and every session it serves, as a crash or restart would."""
        if self.process is not None:
            group = os.getpgid(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # sessions that outlived their master
            self.process = None

    def deliver(self, raw: bytes, folder: str = "") -> Path:
        """Drop a message into the maildir, as a delivery agent would (tmp/, then new/)."""
        base = self.maildir / f".{folder}" if folder else self.maildir
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.tune-test"
        temporary = base / "tmp" / name
        temporary.write_bytes(raw.replace(b"\r\n", b"\n"))
        final = base / "new" / name
        temporary.rename(final)
        self._own(final)
        return final

    def reset_uidvalidity(self) -> None:
        """Forget the folder's UID list, as a restored or rebuilt mailbox does."""
        for name in (
            "dovecot-uidlist",
            "dovecot.index",
            "dovecot.index.cache",
            "dovecot.index.log",
        ):
            (self.maildir / name).unlink(missing_ok=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _own(self, path: Path) -> None:
        if os.getuid() != 0:
            return
        for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(item, self.uid, self.gid)


def require_dovecot() -> None:
    if not os.path.exists(DOVECOT):
        pytest.fail("dovecot is not installed (apt-get install dovecot-imapd)")


def running_dovecot() -> Iterator[Dovecot]:
    """For a fixture: a started server, removed afterwards."""
    require_dovecot()
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
