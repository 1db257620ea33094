"""A real one-node Slurm cluster on this machine, for testing the pipeline's `--profile slurm` path.

    python tests/slurm_cluster.py start   # prints the partition; leaves the daemons running
    python tests/slurm_cluster.py stop    # kills exactly the daemons `start` started

or, in Python, ``with SlurmCluster() as cluster: ...``.

Needs root (the daemons run as root, /etc/slurm/slurm.conf is replaced for the duration) and Debian's packages
slurmctld, slurmd, slurm-client and munge, installed with apt-get if missing. No systemd: the daemons run as
plain foreground processes of ours, so their pids are exact. Job status comes from squeue (no slurmdbd), hence
MinJobAge well above the plugin's first status check. The node offers one fake GPU (gres with File=/dev/null),
so GPU-tagged rules get a real Slurm GPU allocation without hardware. Facts behind each setting:
/work/shared/notes/slurm-on-one-machine.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = {
    "slurmctld": "/usr/sbin/slurmctld",
    "slurmd": "/usr/sbin/slurmd",
    "munged": "/usr/sbin/munged",
    "sbatch": "sbatch",
    "squeue": "squeue",
    "scontrol": "scontrol",
    "sinfo": "sinfo",
}
ETC = Path("/etc/slurm")
# The jobstep plugin strips SLURM_* (so SLURM_CONF) before a job's inner srun: the config must be at the default
# path. gres.conf is read from the slurm.conf's folder, so it is linked beside it.
LINKED = ("slurm.conf", "gres.conf")
STATE_FILE = "cluster.json"  # in the prefix: what `stop` needs in another process
DEFAULT_CLI_PREFIX = Path(tempfile.gettempdir()) / "codecbench-slurm"
PORTS = (6817, 6818)  # slurmctld, slurmd (Slurm's defaults: sbatch and srun find them through slurm.conf)


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the test cluster (not root, packages not installable, ports taken)."""


def _run(*command: str, timeout: float = 30, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _missing_binaries() -> list[str]:
    return [name for name, path in BINARIES.items() if not shutil.which(path)]


def install_packages() -> None:
    """apt-get install Debian's Slurm and munge (--no-install-recommends) if any binary is missing."""
    if not _missing_binaries():
        return
    if not shutil.which("apt-get"):
        raise ClusterUnavailable(f"Slurm binaries {_missing_binaries()} are missing and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Without systemd, a package's postinst would try to start its daemon through invoke-rc.d; a policy-rc.d that
    # answers 101 ('action forbidden') keeps it from doing so (Debian's container images ship one; add it if not).
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = not policy.exists()
    if added_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
        proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:  # stale or absent package lists: refresh once
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
            proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    finally:
        if added_policy:
            policy.unlink()
    if _missing_binaries():
        raise ClusterUnavailable(
            f"apt-get could not install {' '.join(PACKAGES)} (missing {_missing_binaries()}): "
            f"{proc.stderr.strip()[-800:]}"
        )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


class SlurmCluster:
    """One node (this machine, 127.0.0.1) in partition ``partition``, with ``gpus`` fake GPUs.

    ``cpus``/``memory_mb`` default to this machine's (memory: 90%). Larger values are announced to Slurm as they
    are (SlurmdParameters=config_overrides), so that a profile's real requests (e.g. 4 CPUs per GPU) are
    schedulable on a small test machine; the jobs then share the real cores.
    """

    def __init__(
        self,
        prefix: Path | None = None,
        partition: str = "main",
        gpus: int = 1,
        cpus: int | None = None,
        memory_mb: int | None = None,
        min_job_age: int = 300,
    ):
        self.prefix = Path(prefix) if prefix else Path(tempfile.mkdtemp(prefix="codecbench-slurm-"))
        self.partition = partition
        self.gpus = gpus
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb or int(_memory_mb() * 0.9)
        self.min_job_age = min_job_age
        self.node = socket.gethostname().split(".")[0]
        self.pids: dict[str, int] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self.backups: dict[str, str | None] = {}  # linked file -> where the previous one was moved (None: absent)
        self.created_etc = False

    # ---- configuration -----------------------------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("state", "spool", "log", "run"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        p = self.prefix
        (p / "slurm.conf").write_text(
            f"""# codecbench's test cluster (tests/slurm_cluster.py); removed when the test ends.
ClusterName=codecbench
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={PORTS[0]}
SlurmdPort={PORTS[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
# The plugin reads job states with squeue (no accounting daemon): a finished job must stay visible to squeue
# for at least 3 x --slurm-init-seconds-before-status-checks.
MinJobAge={self.min_job_age}
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
StateSaveLocation={p}/state
SlurmdSpoolDir={p}/spool
SlurmctldPidFile={p}/run/slurmctld.pid
SlurmdPidFile={p}/run/slurmd.pid
SlurmctldLogFile={p}/log/slurmctld.log
SlurmdLogFile={p}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
GresTypes=gpu
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} Gres=gpu:fake:{self.gpus} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        )
        # A gres line without File= is dropped and the node goes INVAL: /dev/null stands in for each device.
        (p / "gres.conf").write_text(
            "".join(f"NodeName={self.node} Name=gpu Type=fake File=/dev/null\n" for _ in range(self.gpus))
        )

    def link_config(self) -> None:
        if not ETC.exists():
            ETC.mkdir(parents=True)
            self.created_etc = True
        for name in LINKED:
            target = ETC / name
            if target.exists() or target.is_symlink():
                backup = self.prefix / f"previous-{name}"
                shutil.move(str(target), backup)  # a symlink moves as a symlink
                self.backups[name] = str(backup)
            else:
                self.backups[name] = None
            target.symlink_to(self.prefix / name)

    def unlink_config(self) -> None:
        for name, backup in self.backups.items():
            target = ETC / name
            if target.is_symlink() and Path(os.readlink(target)) == self.prefix / name:
                target.unlink()
            if backup and (Path(backup).exists() or Path(backup).is_symlink()):
                shutil.move(backup, target)
        self.backups = {}
        if self.created_etc and ETC.exists() and not any(ETC.iterdir()):
            ETC.rmdir()

    # ---- daemons -----------------------------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], **kwargs) -> None:
        log = open(self.prefix / "log" / f"{name}.out", "ab")  # noqa: SIM115 - the daemon holds it
        env = {**os.environ, "SLURM_CONF": str(ETC / "slurm.conf")}
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            **kwargs,
        )  # fmt: skip
        log.close()
        self._procs[name] = proc
        self.pids[name] = proc.pid
        self.save_state()

    def _munge_works(self) -> bool:
        if not shutil.which("munge"):
            return False
        proc = subprocess.run("munge -n | unmunge", shell=True, capture_output=True, timeout=10)
        return proc.returncode == 0

    def start_munge(self) -> None:
        """munged as user munge (the package made its key); an already running munged is used as it is."""
        if self._munge_works():
            return
        import grp
        import pwd

        user = pwd.getpwnam("munge")
        run = Path("/run/munge")
        run.mkdir(parents=True, exist_ok=True)
        os.chown(run, user.pw_uid, user.pw_gid)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            _run("mungekey", "--create", "--keyfile", str(key))
            os.chown(key, user.pw_uid, user.pw_gid)
            key.chmod(0o400)
        group = grp.getgrgid(user.pw_gid).gr_name
        self._spawn("munged", [BINARIES["munged"], "--foreground"], user="munge", group=group)
        self._wait(self._munge_works, 20, "munged to answer")

    def start(self) -> SlurmCluster:
        if os.geteuid() != 0:
            raise ClusterUnavailable("the test cluster needs root (daemons run as root, /etc/slurm is replaced)")
        install_packages()
        taken = [port for port in PORTS if not _port_free(port)]
        if taken:
            raise ClusterUnavailable(f"ports {taken} are in use: another Slurm runs here")
        try:
            self.write_config()
            self.link_config()
            self.save_state()
            self.start_munge()
            self._spawn("slurmctld", [BINARIES["slurmctld"], "-D", "-c"])
            self._wait(lambda: _run("scontrol", "ping", check=False).stdout.count("UP") > 0, 30, "slurmctld")
            self._spawn("slurmd", [BINARIES["slurmd"], "-D"])
            self.wait_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def node_state(self) -> str:
        return _run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T", check=False).stdout.strip().lower()

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        resumed = False
        while time.monotonic() < deadline:
            for name in ("slurmctld", "slurmd"):
                if not _alive(self.pids[name]):
                    raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
            state = self.node_state()
            if state.startswith("idle") or state.startswith("mixed"):
                return
            if any(word in state for word in ("inval", "drain", "down")) and not resumed:
                # A node that once failed registration stays drained: resume it after the fix.
                _run("scontrol", "update", f"nodename={self.node}", "state=resume", check=False)
                resumed = True
            time.sleep(0.3)
        raise RuntimeError(f"node {self.node} not idle after {timeout} s (state {state!r}): {self.log_tail('slurmd')}")

    def log_tail(self, name: str, chars: int = 2000) -> str:
        texts = []
        for path in (self.prefix / "log" / f"{name}.log", self.prefix / "log" / f"{name}.out"):
            if path.exists():
                texts.append(path.read_text(errors="replace")[-chars:])
        return "\n".join(texts)

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}")

    def stop(self) -> None:
        """Kill exactly the daemons started here (slurmd first), then restore /etc/slurm."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.get(name)
            if pid is None:
                continue
            proc = self._procs.get(name)
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if not _alive(pid):
                    break
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and _alive(pid):
                    if proc is not None and proc.poll() is not None:  # our child: reaped, no zombie left
                        break
                    time.sleep(0.1)
            if proc is not None:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            del self.pids[name]
        self.unlink_config()
        self.save_state()

    # ---- state shared between `start` and `stop` in different processes ---------------------------------------
    def save_state(self) -> None:
        if self.prefix.exists():
            state = {"pids": self.pids, "backups": self.backups, "created_etc": self.created_etc}
            (self.prefix / STATE_FILE).write_text(json.dumps(state))

    @classmethod
    def load(cls, prefix: Path) -> SlurmCluster:
        cluster = cls(prefix)
        state = json.loads((Path(prefix) / STATE_FILE).read_text())
        cluster.pids = {name: int(pid) for name, pid in state["pids"].items()}
        cluster.backups = state["backups"]
        cluster.created_etc = state["created_etc"]
        return cluster

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in ("start", "stop"):
        print(f"usage: {argv[0]} start|stop [prefix (default {DEFAULT_CLI_PREFIX})]", file=sys.stderr)
        return 2
    prefix = Path(argv[2]) if len(argv) > 2 else DEFAULT_CLI_PREFIX
    if argv[1] == "start":
        if (prefix / STATE_FILE).exists() and SlurmCluster.load(prefix).pids:
            print(f"a cluster started in {prefix} still runs: stop it first", file=sys.stderr)
            return 1
        try:
            cluster = SlurmCluster(prefix).start()
        except ClusterUnavailable as error:
            print(f"cannot start: {error}", file=sys.stderr)
            return 1
        print(f"Slurm up: node {cluster.node}, partition {cluster.partition}, pids {cluster.pids}, config {prefix}")
        return 0
    if not (prefix / STATE_FILE).exists():
        print(f"no cluster state in {prefix}", file=sys.stderr)
        return 1
    SlurmCluster.load(prefix).stop()
    print("Slurm stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
