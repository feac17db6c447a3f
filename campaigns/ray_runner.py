"""The same campaign job on Ray Data: the due rows as a dataset, `map_batches` over an actor
pool whose actors each hold a job (recommender, LLM engine), results committed by the actors
through the same idempotent rows (campaigns/rows.py).

Ray is an extra (`pip install .[scale]`) and is imported only here. `address=None` starts a
local Ray on this machine's CPUs; `ray://host:10001` or `auto` joins a cluster, whose workers
must reach the same database (PostgreSQL at scale: SHOPWRIGHT_DATABASE_URL).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from campaigns.rows import Due
from shop.errors import ConfigError

STATES = ("generated", "skipped", "already", "retry", "failed")


class CampaignActor:
    """One per Ray worker: builds its job once (loading the models), then processes batches."""

    def __init__(self, factory):
        self.job = factory()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        due = [Due(int(i), str(c), int(a)) for i, c, a in
               zip(batch["id"], batch["customer_id"], batch["attempts"])]
        counts = self.job.process_all(due)
        return {state: np.array([counts[state]]) for state in STATES}


class RayRunner:
    def __init__(self, factory: Callable, address: str | None = None, batch_size: int = 8,
                 actors: int | None = None, cpus_per_actor: int | None = None):
        """Local Ray: one actor with every core (Ray gives an actor as many torch threads as
        CPUs it holds, and two models on 2 cores only fight). A cluster: `actors` actors
        (default 2) of `cpus_per_actor` CPUs (default 4) each."""
        try:
            import ray
        except ImportError:
            raise ConfigError("--engine ray needs Ray: pip install 'shopwright[scale]'") from None
        self.ray = ray
        self.factory = factory
        self.batch_size = batch_size
        self.address = address
        local = address is None
        self.actors = actors or (1 if local else 2)
        self.cpus_per_actor = cpus_per_actor or ((os.cpu_count() or 1) if local else 4)
        self._started = False

    def __enter__(self) -> RayRunner:
        if not self.ray.is_initialized():
            kwargs = {"address": self.address} if self.address else \
                {"num_cpus": os.cpu_count() or 1, "include_dashboard": False}
            self.ray.init(log_to_driver=False, configure_logging=False, **kwargs)
            self._started = True
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            self.ray.shutdown()

    def __call__(self, due: list[Due], progress: Callable[[int], None] | None = None) -> Counter:
        """Process `due` on the actor pool; returns counts like CampaignJob.process_all."""
        dataset = self.ray.data.from_items(
            [{"id": row.id, "customer_id": row.customer_id, "attempts": row.attempts}
             for row in due])
        results = dataset.map_batches(
            CampaignActor, fn_constructor_args=(self.factory,), batch_size=self.batch_size,
            concurrency=self.actors, num_cpus=self.cpus_per_actor, batch_format="numpy")
        counts: Counter = Counter()
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            done = Counter({state: int(sum(batch[state])) for state in STATES})
            counts.update(done)
            if progress:
                progress(sum(done[k] for k in ("generated", "skipped", "failed", "already")))
        return counts
