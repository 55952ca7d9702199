"""Several local processes joined by torch.distributed: ``fromnoise train --processes N``.

    launch(function, args, processes=2)   # function(*args) in 2 processes; accelerate sees a world of 2

Each process is started by ``torch.multiprocessing`` with the environment ``torchrun`` /
``accelerate launch`` would give it (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``), the way accelerate's own ``notebook_launcher`` starts its workers
(``PrepareForLaunch``), so the ``Accelerator`` built inside ``function`` sets up the process group
itself: gloo on the CPU, NCCL with one GPU per process. On the CPU accelerate gives each process
cores / N threads (unless OMP_NUM_THREADS says otherwise).

The processes are *spawned*, not forked: a child forked after the parent ran a multi-threaded
OpenMP region hangs in its first parallel convolution (libgomp is not fork-safe), and CUDA cannot
be used in a forked child either. So ``function`` must be importable (a module-level function)
and ``args`` picklable; tensors travel through shared memory, not copies. Across machines, use
``accelerate launch`` (``accelerate config`` writes its settings): see docs/tutorials/09-scale-out.md.

A ``UserError`` raised in any process is raised again here, with the same message (the first
failing process's); SIGINT/SIGTERM sent to this process are passed on to the workers, which save
a checkpoint and stop together.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import torch

from ..errors import UserError


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now (for the rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Worker:
    """Process ``index``'s entry point: the distributed environment, then ``function(*args)``."""

    def __init__(self, function, processes: int, port: int, errors: Path):
        self.function, self.processes, self.port, self.errors = function, processes, port, errors

    def __call__(self, index: int, *args) -> None:
        from accelerate.state import AcceleratorState, GradientState

        os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(self.processes),
                          LOCAL_WORLD_SIZE=str(self.processes), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(self.port))
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # local processes talk over the loopback
        if not torch.cuda.is_available():
            os.environ["ACCELERATE_USE_CPU"] = "true"
        # in case a one-process accelerate state came along: this process joins the world of N
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        finished = False
        try:
            self.function(*args)
            finished = True
        except UserError as err:
            record = {"rank": index, "message": str(err), "exit_code": getattr(err, "exit_code", None),
                      "prefix": getattr(err, "prefix", None)}
            (self.errors / f"rank{index}.json").write_text(json.dumps(record))
            raise
        finally:
            leave_process_group(together=finished)


def leave_process_group(together: bool) -> None:
    """End this process's part in the process group while the interpreter is whole.

    What still refers to the group (DDP's reducer and gloo's pending work, often held in reference
    cycles through the trainer) is collected first, while the group and the interpreter are alive;
    left to interpreter shutdown, these C++ objects go in no defined order. ("terminate called without
    an active exception", the SIGABRT that tests/training/test_multiprocess.py's workers met at random,
    is libstdc++'s word for a thread object destroyed while its thread still runs.) When every process
    finished (``together``), a barrier lets none of them close its connections while another still
    reads from them; then the group is destroyed.
    """
    gc.collect()
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if together:
        try:
            torch.distributed.barrier()
        except RuntimeError:  # a process that failed has gone: its own error is the one reported
            pass
    torch.distributed.destroy_process_group()
    gc.collect()


def check_not_nested(processes: int) -> None:
    """A UserError when ``--processes N`` (N > 1) is asked for inside a launcher that started processes already."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if processes > 1 and world > 1:
        raise UserError(f"--processes {processes} inside a launcher that already started {world} processes; give "
                        "one or the other (accelerate launch --num_processes N, or --processes N)")


def launch(function, args: tuple = (), processes: int = 2) -> None:
    """Run ``function(*args)`` in ``processes`` local processes (one with 1) and wait for all of them.

    Raises UserError when a process raised one (its message; ``exit_code`` and ``prefix`` kept),
    or when more GPU processes are asked for than there are GPUs.
    """
    if processes < 1:
        raise UserError(f"--processes must be at least 1, got {processes}")
    check_not_nested(processes)
    if processes == 1:
        function(*args)
        return
    if torch.cuda.is_available() and processes > torch.cuda.device_count():
        raise UserError(f"--processes {processes} needs {processes} GPUs; this machine has "
                        f"{torch.cuda.device_count()}. Ask for at most that many")
    from torch.multiprocessing import start_processes

    with tempfile.TemporaryDirectory(prefix="fromnoise-launch-") as tmp:
        errors = Path(tmp)
        context = start_processes(_Worker(function, processes, free_port(), errors), args=args, nprocs=processes,
                                  join=False, start_method="spawn")

        def forward(signum, _frame):
            """The first SIGINT/SIGTERM goes on to the workers (they save and stop); a second one acts as usual."""
            for sig, handler in old.items():
                signal.signal(sig, handler)
            for proc in context.processes:
                if proc.is_alive():
                    os.kill(proc.pid, signum)

        old = ({sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
               if threading.current_thread() is threading.main_thread() else {})  # handlers: main thread only
        try:
            _wait(context)
        except Exception:
            records = sorted((json.loads(p.read_text()) for p in errors.glob("rank*.json")), key=lambda r: r["rank"])
            if not records:
                raise
            first = next((r for r in records if r["exit_code"] is not None), records[0])  # a stop by a signal
            raised = UserError(first["message"])
            if first["exit_code"] is not None:
                raised.exit_code = first["exit_code"]
            if first["prefix"]:
                raised.prefix = first["prefix"]
            raise raised from None
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def _wait(context, grace_s: float = 60.0) -> None:
    """Wait for every worker; once one has failed, give the others ``grace_s`` to finish what they
    write (a stop saves a checkpoint on every process) before torch ends them and raises."""
    failed_at = None
    while not all(proc.exitcode is not None for proc in context.processes):
        if any(proc.exitcode not in (None, 0) for proc in context.processes):
            failed_at = failed_at or time.monotonic()
            if time.monotonic() - failed_at > grace_s:
                break
        time.sleep(0.05)
    while not context.join():
        pass
