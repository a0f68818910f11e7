"""The Ray backend shared by the evaluation runner and ``make-pairs --executor ray`` (ground floor: it
knows only the errors module, so any layer may use it).

Ray is an optional extra (``pip install refocus-bench[ray]``). :func:`ray_session` uses an already
initialised Ray (connect to a cluster with ``ray.init(address=...)`` before calling the toolkit) or
starts a local instance with ``num_cpus`` CPUs and stops it on exit. Work is dispatched dynamically:
each actor / task gets a new item as soon as it returns one, and results are yielded as they arrive.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import MissingFileError

__all__ = ["require_ray", "ray_session", "ray_map", "ray_map_function"]


def require_ray() -> Any:
    """Import Ray, or raise a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise MissingFileError("the Ray executor needs Ray: pip install 'refocus-bench[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(num_cpus: int) -> Iterator[Any]:
    """Yield the ``ray`` module with Ray running (started here, and stopped on exit, if it was not)."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def ray_map(actor_cls: type, init_arg: Any, items: Sequence[Any], workers: int, *, gpu: bool = False) -> Iterator[Any]:
    """``actor.run_many(item)`` for every item over ``workers`` actors of ``actor_cls(init_arg)``, as results arrive.

    With ``gpu=True`` each actor reserves an equal share of the cluster's GPUs (at most one), so Ray
    makes a GPU visible to it.
    """
    with ray_session(workers) as ray:
        num_gpus = 0.0
        if gpu:
            total = float(ray.cluster_resources().get("GPU", 0.0))
            if total <= 0:
                raise MissingFileError("a CUDA device was asked for, but the Ray cluster has no GPU")
            num_gpus = min(1.0, total / workers)
        remote_cls = ray.remote(num_cpus=1, num_gpus=num_gpus)(actor_cls)
        arg_ref = ray.put(init_arg)
        actors = [remote_cls.remote(arg_ref) for _ in range(min(workers, len(items)))]
        todo = list(items)[::-1]
        running: dict[Any, Any] = {}
        for a in actors:
            if todo:
                running[a.run_many.remote(todo.pop())] = a
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                actor = running.pop(ready[0])
                if todo:
                    running[actor.run_many.remote(todo.pop())] = actor
                yield ray.get(ready[0])
        finally:
            for a in actors:
                ray.kill(a)


def ray_map_function(
    fn: Callable[..., Any], args: Sequence[tuple], workers: int
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """``fn(*args[i])`` as Ray tasks (one CPU each, at most ``workers`` at a time).

    Yields ``(i, result, None)`` or ``(i, None, error)`` as tasks finish.
    """
    with ray_session(workers) as ray:
        remote_fn = ray.remote(num_cpus=1, max_retries=0)(fn)
        todo = list(enumerate(args))[::-1]
        running: dict[Any, int] = {}
        while todo or running:
            while todo and len(running) < workers:
                i, a = todo.pop()
                running[remote_fn.remote(*a)] = i
            ready, _ = ray.wait(list(running), num_returns=1)
            i = running.pop(ready[0])
            try:
                yield i, ray.get(ready[0]), None
            except Exception as err:  # noqa: BLE001 - the caller records it
                cause = getattr(err, "cause", None)
                yield i, None, cause if isinstance(cause, BaseException) else err
