"""The Ray backend shared by the evaluation runner and ``make-pairs --executor ray`` (ground floor: it
knows only the errors module, so any layer may use it).

Ray is an optional extra (``pip install refocus-bench[ray]``). :func:`ray_session` uses an already
initialised Ray (connect to a cluster with ``ray.init(address=...)`` before calling the toolkit) or
starts a local instance with ``num_cpus`` CPUs and stops it on exit. Work is dispatched dynamically:
each actor / task gets a new item as soon as it returns one, and results are yielded as they arrive.

Actors start a Python process each, which imports the package (seconds, on a busy machine tens of
seconds). Inside ``with keep_actors():`` :func:`ray_map` keeps its actors from one call to the next
(same Ray session and GPU share; each actor rebuilds its object from the new call's argument), so a
series of evaluations pays the start-up once; the block kills them on exit. Outside such a block the
actors of a call are killed when it ends, so no idle actor holds a CPU of the cluster.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import MissingFileError

__all__ = ["require_ray", "ray_session", "ray_map", "ray_map_function", "keep_actors", "kept_actor_ids"]

_KEPT: dict[str, Any] = {}  # inside keep_actors(): {"on": True, "key": (session, gpus), "actors": [...]}


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


class _Host:
    """A Ray actor's body: holds one ``cls(arg)``, built again when a call of another ``ray_map`` arrives."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.obj: Any = None

    def run_many(self, token: str, cls: type, boxed_arg: list, item: Any) -> Any:
        if token != self.token:
            import ray

            self.obj = None  # free the previous object first
            self.obj = cls(ray.get(boxed_arg[0]))
            self.token = token
        return self.obj.run_many(item)


@contextlib.contextmanager
def keep_actors() -> Iterator[None]:
    """Within the block, :func:`ray_map` reuses its actors across calls; they are killed on exit.

    Reuse needs a Ray instance that outlives the calls: ``ray.init(...)`` before the block (a Ray that
    :func:`ray_session` starts for one call stops with it, and its actors with it). The kept actors hold
    their CPUs (and GPU shares) until the block ends.

    Example (not run here: it starts Ray)::

        ray.init(num_cpus=2)
        with keep_actors():
            for name in ("deblur.wiener", "deblur.richardson_lucy"):
                evaluate(name, "synthetic-deblur", executor="ray", workers=2, out_dir="results/")
    """
    if _KEPT.get("on"):  # nested: the outer block owns the actors
        yield
        return
    _KEPT["on"] = True
    try:
        yield
    finally:
        _release()
        _KEPT.clear()


def kept_actor_ids() -> list[str]:
    """Hex ids of the actors :func:`keep_actors` holds now (empty outside the block; for tests)."""
    return [a._actor_id.hex() for a in _KEPT.get("actors", [])]


def _release() -> None:
    """Kill the kept actors (if any)."""
    actors = _KEPT.pop("actors", [])
    _KEPT.pop("key", None)
    if actors:
        ray = require_ray()
        if ray.is_initialized():
            for a in actors:
                with contextlib.suppress(Exception):
                    ray.kill(a)


def _actors(ray: Any, n: int, num_gpus: float, keep: bool) -> list[Any]:
    """``n`` host actors: the kept ones of this Ray session and GPU share, plus new ones as needed."""
    key = (ray.get_runtime_context().get_job_id(), num_gpus)
    if not keep:
        _release()  # kept actors of another session or share would only hold CPUs
    elif _KEPT.get("key") != key:
        _release()
        _KEPT["key"] = key
    kept = _KEPT.setdefault("actors", []) if keep else []
    host = ray.remote(num_cpus=1, num_gpus=num_gpus)(_Host)
    kept += [host.remote() for _ in range(n - len(kept))]
    return kept[:n]


def ray_map(actor_cls: type, init_arg: Any, items: Sequence[Any], workers: int, *, gpu: bool = False) -> Iterator[Any]:
    """``actor_cls(init_arg).run_many(item)`` for every item over ``workers`` Ray actors, as results arrive.

    With ``gpu=True`` each actor reserves an equal share of the cluster's GPUs (at most one), so Ray
    makes a GPU visible to it. Inside :func:`keep_actors` (and a Ray started before it) the actors
    stay up for the next call; otherwise they are killed when this one ends. After an error or an
    interruption they are killed in both cases.
    """
    keep = bool(_KEPT.get("on")) and require_ray().is_initialized()  # a Ray started for this call dies with it
    with ray_session(workers) as ray:
        num_gpus = 0.0
        if gpu:
            total = float(ray.cluster_resources().get("GPU", 0.0))
            if total <= 0:
                raise MissingFileError("a CUDA device was asked for, but the Ray cluster has no GPU")
            num_gpus = min(1.0, total / workers)
        token, boxed = uuid.uuid4().hex, [ray.put(init_arg)]  # boxed: actors fetch it once, not per item
        actors = _actors(ray, min(workers, len(items)), num_gpus, keep)
        todo = list(items)[::-1]
        running: dict[Any, Any] = {}
        for a in actors:
            if todo:
                running[a.run_many.remote(token, actor_cls, boxed, todo.pop())] = a
        ok = False
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                actor = running.pop(ready[0])
                if todo:
                    running[actor.run_many.remote(token, actor_cls, boxed, todo.pop())] = actor
                yield ray.get(ready[0])
            ok = True
        finally:
            if not (keep and ok):
                for a in actors:
                    ray.kill(a)
                if keep:
                    _KEPT.pop("actors", None)
                    _KEPT.pop("key", None)


def ray_map_function(
    fn: Callable[..., Any], args: Sequence[tuple], workers: int
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """``fn(*args[i])`` as Ray tasks (one CPU each, at most ``workers`` at a time).

    Yields ``(i, result, None)`` or ``(i, None, error)`` as tasks finish. Actors kept by
    :func:`keep_actors` are killed first: their CPUs would otherwise be missing for the tasks.
    """
    _release()
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
