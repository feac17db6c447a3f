"""Assignment, statistics, promotion and off-policy evaluation, unit by unit, plus the
service over a real SQLite store and the CLI (the HTTP API: test_experiments_api.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from experiments import bandit, ope
from experiments.report import Logged, allocation_over_time, logged, report
from experiments.service import DEFAULT_SEGMENT, ExperimentService
from experiments.spec import ExperimentSpec, FeedbackEvent
from experiments.stats import Counts, credible_interval, decide_ab, decide_thompson, msprt_p_value
from shop.errors import InvalidInput, NotFound

# ---- assignment -------------------------------------------------------------------------------


def test_ab_buckets_are_stable_and_uniform():
    assert [bandit.ab_bucket(7, "C1", 3) for _ in range(3)] == [bandit.ab_bucket(7, "C1", 3)] * 3
    buckets = np.bincount([bandit.ab_bucket(7, f"C{n}", 3) for n in range(30_000)])
    assert scipy_stats.chisquare(buckets).pvalue > 0.001
    # another experiment splits the same customers independently
    other = [bandit.ab_bucket(8, f"C{n}", 3) for n in range(3000)]
    same = [bandit.ab_bucket(7, f"C{n}", 3) for n in range(3000)]
    assert 0.25 < np.mean(np.array(other) == np.array(same)) < 0.42


def test_thompson_probabilities_follow_the_posterior_and_keep_the_floor():
    rng = np.random.default_rng(0)
    even = bandit.thompson_probabilities(np.zeros(3), np.zeros(3), rng, floor=0.01)
    assert even.sum() == pytest.approx(1) and even == pytest.approx([1 / 3] * 3, abs=0.04)
    skewed = bandit.thompson_probabilities(np.array([10, 60, 20]), np.array([500, 500, 500]),
                                           rng, floor=0.01)
    assert skewed.sum() == pytest.approx(1)
    assert skewed[1] > 0.97 and skewed.min() >= 0.01
    # close contest: P(B best) under Beta(31, 471) vs Beta(26, 476), checked by quadrature
    close = bandit.thompson_probabilities(np.array([25, 30]), np.array([500, 500]), rng,
                                          n_draws=50_000)
    a, b = scipy_stats.beta(26, 476), scipy_stats.beta(31, 471)
    grid = np.linspace(0, 0.2, 20_001)
    exact = np.trapezoid(b.pdf(grid) * a.cdf(grid), grid)
    assert close[1] == pytest.approx(exact, abs=0.01)


# ---- statistics -------------------------------------------------------------------------------


def test_credible_interval_is_the_beta_posteriors():
    low, high = credible_interval(30, 200)
    assert (low, high) == pytest.approx(scipy_stats.beta(31, 171).ppf([0.025, 0.975]))
    assert low < 30 / 200 < high


def test_msprt_stays_valid_under_peeking_where_a_naive_test_does_not():
    """A/A: two arms with the same rate, checked after every 50 customers per arm. The
    always-valid p-value rejects at most about alpha of the time; a z-test looked at as
    often rejects far more."""
    rng = np.random.default_rng(1)
    runs, n, step, alpha = 300, 3000, 50, 0.05
    clicks = rng.random((runs, 2, n)) < 0.1
    cumulative = clicks.cumsum(axis=2)
    msprt_rejects = naive_rejects = 0
    for run in range(runs):
        peeks = range(step, n + 1, step)
        p_values = [msprt_p_value(int(cumulative[run, 0, m - 1]), m,
                                  int(cumulative[run, 1, m - 1]), m) for m in peeks]
        msprt_rejects += min(p_values) < alpha
        naive = []
        for m in peeks:
            a, b = cumulative[run, 0, m - 1] / m, cumulative[run, 1, m - 1] / m
            pooled = (a + b) / 2
            se = np.sqrt(max(2 * pooled * (1 - pooled) / m, 1e-12))
            naive.append(2 * scipy_stats.norm.sf(abs(b - a) / se))
        naive_rejects += min(naive) < alpha
    assert msprt_rejects / runs <= alpha + 0.02
    assert naive_rejects / runs > 2 * alpha


def test_msprt_finds_a_real_difference():
    assert msprt_p_value(100, 2000, 200, 2000) < 0.001
    assert msprt_p_value(100, 2000, 105, 2000) > 0.5


def test_promotion_rules():
    counts = Counts(["A", "B", "C"], np.array([2000, 2000, 2000]), np.array([100, 200, 110]),
                    np.zeros(3, dtype=int))
    ab = decide_ab(counts, control=0, alpha=0.05, min_impressions=100)
    assert ab.winner == "B" and ab.p_values["C"] > 0.05
    assert decide_ab(counts, 0, 0.05, min_impressions=5000).winner is None
    worse = Counts(["A", "B"], np.array([2000, 2000]), np.array([200, 100]),
                   np.zeros(2, dtype=int))
    assert decide_ab(worse, 0, 0.05, 100).winner == "A"
    p_best = np.array([0.01, 0.97, 0.02])
    assert decide_thompson(counts, p_best, 0.95, 100).winner == "B"
    assert decide_thompson(counts, p_best, 0.98, 100).winner is None
    assert decide_thompson(counts, p_best, 0.95, 2001).winner is None  # sample too small


# ---- off-policy evaluation --------------------------------------------------------------------

TRUE = {"x": np.array([0.05, 0.15, 0.10]), "y": np.array([0.20, 0.05, 0.10])}


def simulated_log(n: int, seed: int) -> Logged:
    """Uniform-random logging over two segments with known click rates."""
    rng = np.random.default_rng(seed)
    segments = rng.choice(np.array(["x", "y"], dtype=object), size=n)
    actions = rng.integers(0, 3, size=n)
    rates = np.array([TRUE[s][a] for s, a in zip(segments, actions)])
    return Logged(["A", "B", "C"], segments, actions, np.full(n, 1 / 3),
                  (rng.random(n) < rates).astype(float))


def test_ips_and_dr_recover_a_new_policys_click_rate():
    policy = ope.parse_policy({"x": "B", "y": {"A": 0.5, "C": 0.5}}, ["A", "B", "C"])
    truth = 0.5 * TRUE["x"][1] + 0.5 * (0.5 * TRUE["y"][0] + 0.5 * TRUE["y"][2])
    covered, errors = 0, {"ips": [], "dr": []}
    for seed in range(20):
        result = ope.evaluate(simulated_log(3000, seed), policy)
        for name, found in errors.items():
            found.append(abs(result[name]["value"] - truth))
        low, high = result["dr"]["ci95"]
        covered += low <= truth <= high
    assert np.mean(errors["dr"]) < 0.01 and np.mean(errors["ips"]) < 0.015
    assert np.mean(errors["dr"]) <= np.mean(errors["ips"])
    assert covered >= 16  # a 95% interval, 20 tries


def test_greedy_and_uniform_policies_and_policy_file_errors(tmp_path):
    log = simulated_log(6000, 0)
    greedy = ope.greedy_policy(log)
    assert list(greedy["x"]) == [0, 1, 0] and list(greedy["y"]) == [1, 0, 0]
    assert ope.uniform_policy(log)["default"] == pytest.approx([1 / 3] * 3)
    path = tmp_path / "policy.yaml"
    path.write_text("default: {A: 0.5, B: 0.6}\n")
    with pytest.raises(InvalidInput, match="sum to 1"):
        ope.load_policy(str(path), log)
    with pytest.raises(InvalidInput, match="unknown variant"):
        ope.parse_policy({"default": "Z"}, log.keys)
    with pytest.raises(InvalidInput, match="no entry for segment"):
        ope.evaluate(log, ope.parse_policy({"x": "A"}, log.keys))


# ---- the service over a store -----------------------------------------------------------------


def spec(policy="thompson", **extra) -> ExperimentSpec:
    return ExperimentSpec(name="subject", policy=policy,
                          variants=[{"key": "A"}, {"key": "B"}], **extra)


def test_per_segment_thompson_learns_each_segments_best(store):
    segment_of = {f"C{n}": n % 2 for n in range(800)}.get
    service = ExperimentService(store, segment_of, rng=np.random.default_rng(0))
    experiment_id = service.create(spec(per_segment=True))
    best = {"0": "A", "1": "B"}
    rng = np.random.default_rng(1)
    for n in range(800):
        assigned = service.assign(experiment_id, f"C{n}")
        events = [FeedbackEvent(experiment_id=experiment_id, customer_id=f"C{n}",
                                variant=assigned.variant, event="impression")]
        if rng.random() < (0.2 if assigned.variant == best[assigned.segment] else 0.03):
            events.append(events[0].model_copy(update={"event": "click"}))
        service.record(events)
    result = report(service, experiment_id)
    assert result["state"] == "running"  # per-segment experiments are not auto-promoted
    assert result["segments"]["0"]["A"]["p_best"] > 0.95
    assert result["segments"]["1"]["B"]["p_best"] > 0.95
    assert result["segments"]["1"]["B"]["allocation"] > 0.9
    assert service.assign(experiment_id, "stranger").segment == DEFAULT_SEGMENT
    log = logged(service, experiment_id)
    assert len(log.actions) == 800 and set(log.segments) == {"0", "1"}
    series = allocation_over_time(service, experiment_id, points=4)
    assert [p["assignments"] for p in series["points"]] == [201, 401, 601, 801]  # and the stranger


def test_a_new_experiment_has_an_empty_allocation_series(store):
    service = ExperimentService(store)
    experiment_id = service.create(spec("thompson"))
    series = allocation_over_time(service, experiment_id)
    assert series["points"] == [] and series["variants"] == ["A", "B"]


def test_ab_promotes_by_the_sequential_test(store):
    service = ExperimentService(store)
    experiment_id = service.create(spec("ab"))
    events = []
    for n in range(1500):
        variant = service.assign(experiment_id, f"C{n}").variant
        events.append(FeedbackEvent(experiment_id=experiment_id, customer_id=f"C{n}",
                                    variant=variant, event="impression"))
        if n % (4 if variant == "B" else 20) == 0:
            events.append(events[-1].model_copy(update={"event": "click"}))
    service.record(events)
    result = report(service, experiment_id)
    assert result["state"] == "promoted" and result["winner"] == "B"
    assert "always-valid" in result["decision"]


def test_unknowns_are_refused(store):
    service = ExperimentService(store)
    with pytest.raises(InvalidInput, match="content_id 5"):
        service.create(ExperimentSpec(name="x", policy="ab",
                                      variants=[{"key": "A", "content_id": 5}, {"key": "B"}]))
    with pytest.raises(NotFound):
        service.assign(41, "C1")
    with pytest.raises(ValueError, match="control"):
        spec(control="Z")


def test_cli_create_show_plot_ope_and_stop(store, tmp_path, monkeypatch):
    from ui import context as ui_context
    from ui.cli import app

    context = ui_context.ShopContext(store.settings)
    monkeypatch.setattr(ui_context, "_DEFAULT", context)
    cli = CliRunner()
    created = cli.invoke(app, ["experiment", "create", "hello", "--policy", "thompson",
                               "--variant", "A=Hello", "--variant", "B=Hi there"])
    assert created.exit_code == 0, created.output
    for n in range(40):
        assigned = context.experiments.assign(1, f"C{n}")
        context.experiments.record([FeedbackEvent(experiment_id=1, customer_id=f"C{n}",
                                                  variant=assigned.variant,
                                                  event="click" if n % 3 else "impression")])
    plot = tmp_path / "allocation.json"
    shown = cli.invoke(app, ["experiment", "show", "hello", "--plot", str(plot)])
    assert shown.exit_code == 0, shown.output
    assert "P(best)" in shown.output and "rule:" in shown.output
    assert json.loads(plot.read_text())["points"][-1]["assignments"] == 40
    estimated = cli.invoke(app, ["experiment", "ope", "hello", "--policy", "uniform", "--json"])
    assert estimated.exit_code == 0, estimated.output
    assert json.loads(estimated.output)["rows"] == 40
    assert cli.invoke(app, ["experiment", "stop", "hello", "--winner", "B"]).exit_code == 0
    listed = cli.invoke(app, ["experiment", "list"])
    assert "stopped -> B" in listed.output
    bad = cli.invoke(app, ["experiment", "create", "bad", "--variant", "A"])
    assert bad.exit_code != 0


def test_the_service_on_postgresql(pg_database_url, settings):
    """The same queries (tuple IN, upserts, the logged-impressions join) on PostgreSQL."""
    from shop.store import Store

    store = Store(settings.model_copy(update={"database_url": pg_database_url}))
    service = ExperimentService(store, {"C1": 2}.get, rng=np.random.default_rng(0))
    experiment_id = service.create(spec(per_segment=True))
    assigned = service.assign(experiment_id, "C1")
    assert service.assign(experiment_id, "C1") == assigned and assigned.segment == "2"
    click = FeedbackEvent(experiment_id=experiment_id, customer_id="C1",
                          variant=assigned.variant, event="click")
    assert service.record([click, click]) == {"recorded": 1, "duplicates": 1}
    result = report(service, experiment_id)
    shown = next(v for v in result["variants"] if v["key"] == assigned.variant)
    assert (shown["impressions"], shown["clicks"]) == (1, 1)
    assert list(result["segments"]) == ["2"]
    log = logged(service, experiment_id)
    assert list(log.rewards) == [1.0] and log.propensities[0] == assigned.propensity
    assert allocation_over_time(service, experiment_id)["points"][0]["assignments"] == 1
