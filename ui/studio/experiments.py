"""The studio's "Experiments" tab: each variant's impressions, clicks, conversions, credible
intervals and probability to be best, the allocation over time, and stop / promote; all from
experiments/ (report.py for the figures, service.py for the decisions)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from experiments.report import allocation_over_time, report
from ui.context import ShopContext
from ui.studio.common import PROGRESS, edge, needed

HEADERS = ["variant", "text", "impressions", "clicks", "conversions", "click rate",
           "95% interval", "P(best)", "P(beats control)", "allocation"]


def experiment_choices(context: ShopContext) -> list[tuple[str, str]]:
    return [(f"{row.name} ({row.state})", str(row.id)) for row in context.experiments.names()]


def variant_rows(stats: dict) -> list[list]:
    rows = []
    for v in stats["variants"]:
        low, high = v["click_rate_ci"]
        rate = f"{v['click_rate']:.1%}" if v["click_rate"] is not None else "-"
        beat = f"{v['p_beat_control']:.2f}" if v["p_beat_control"] is not None else "control"
        rows.append([v["key"], (v["text"] or "")[:80], v["impressions"], v["clicks"],
                     v["conversions"], rate, f"{low:.1%} – {high:.1%}", round(v["p_best"], 3),
                     beat, f"{v['allocation']:.0%}"])
    return rows


def interval_frame(stats: dict) -> pd.DataFrame:
    """Per variant three points on one vertical: the ends of the 95% credible interval (Beta
    posterior) and the observed click rate (outside it when the data are few and extreme)."""
    rows = []
    for v in stats["variants"]:
        low, high = v["click_rate_ci"]
        rows += [{"variant": v["key"], "click rate": low, "estimate": "95% interval, low"},
                 {"variant": v["key"], "click rate": v["click_rate"] or 0.0,
                  "estimate": "observed"},
                 {"variant": v["key"], "click rate": high, "estimate": "95% interval, high"}]
    return pd.DataFrame(rows, columns=["variant", "click rate", "estimate"])


def allocation_frame(context: ShopContext, stats: dict) -> pd.DataFrame:
    """Each window's share per variant; empty before the first assignment (report.py's
    allocation_over_time cannot cut zero assignments into windows)."""
    if not sum(v["assignments"] for v in stats["variants"]):
        return pd.DataFrame(columns=["assignments", "variant", "share"])
    series = allocation_over_time(context.experiments, stats["id"])
    return pd.DataFrame([{"assignments": point["assignments"], "variant": key, "share": share}
                         for point in series["points"] for key, share in point["share"].items()],
                        columns=["assignments", "variant", "share"])


@edge
def experiment_stats(context: ShopContext, experiment_id: str, progress=PROGRESS
                     ) -> tuple[str, list, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Summary, variant table, interval plot, P(best) bars, allocation over time, raw report."""
    experiment_id = needed(experiment_id, "an experiment", "pick one from the list")
    progress(0.2, desc="posterior draws")
    stats = report(context.experiments, experiment_id)
    summary = (f"### {stats['name']} · {stats['policy']} · **{stats['state']}**"
               + (f" · winner **{stats['winner']}**" if stats["winner"] else "")
               + f"\n**Decision:** {stats['decision']}  \n**Rule:** {stats['rule']}")
    p_best = pd.DataFrame({"variant": [v["key"] for v in stats["variants"]],
                           "P(best)": [v["p_best"] for v in stats["variants"]]})
    return (summary, variant_rows(stats), interval_frame(stats), p_best,
            allocation_frame(context, stats), stats)


@edge
def stop_experiment(context: ShopContext, experiment_id: str, winner: str) -> str:
    """Stop; with a winner it is promoted (served to everyone), else the control is served."""
    experiment_id = needed(experiment_id, "an experiment", "pick one from the list")
    ended = context.experiments.stop(experiment_id, (winner or "").strip() or None)
    served = ended.row.winner or ended.row.control
    return f"**{ended.row.name}** is {ended.row.state}; everyone now gets **{served}**."


def experiments_tab(context: ShopContext) -> None:
    with gr.Tab("Experiments"):
        gr.Markdown("Variants of approved copy under test (start one on the Copy tab). "
                    "Figures are Beta posteriors of the click rate.")
        with gr.Row():
            chosen = gr.Dropdown([], label="Experiment", allow_custom_value=True,
                             elem_id="experiment-pick", scale=3)
            refresh = gr.Button("Refresh list", elem_id="experiment-refresh", scale=1)
            show = gr.Button("Show", variant="primary", elem_id="experiment-show", scale=1)
        summary = gr.Markdown(elem_id="experiment-summary")
        table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True,
                             elem_id="experiment-variants")
        with gr.Row():
            intervals = gr.ScatterPlot(x="variant", y="click rate", color="estimate",
                                       y_lim=[0, None], height=280, elem_id="experiment-intervals",
                                       label="Click rate and 95% credible interval",
                                       color_map={"95% interval, low": "#4a6fa5",
                                                  "observed": "#c0392b",
                                                  "95% interval, high": "#4a6fa5"})
            p_best = gr.BarPlot(x="variant", y="P(best)", y_lim=[0, 1], height=280,
                                label="Probability to be best", elem_id="experiment-pbest")
        allocation = gr.LinePlot(x="assignments", y="share", color="variant", y_lim=[0, 1],
                                 height=280, label="Allocation over time (share of each "
                                 "window of assignments)", elem_id="experiment-allocation")
        raw = gr.JSON(label="Report", visible=False)
        with gr.Row():
            winner = gr.Textbox(label="Winner to promote (variant key; empty: just stop)",
                                elem_id="experiment-winner")
            stop = gr.Button("Stop / promote", variant="stop", elem_id="experiment-stop")
        stopped = gr.Markdown(elem_id="experiment-stopped")

        def show_stats(experiment_id: str, progress=PROGRESS):
            return experiment_stats(context, experiment_id, progress)

        refresh.click(lambda: gr.update(choices=experiment_choices(context)), outputs=chosen,
                      api_visibility="private")
        outputs = [summary, table, intervals, p_best, allocation, raw]
        show.click(show_stats, inputs=chosen, outputs=outputs, api_name="experiment_stats")
        chosen.change(show_stats, inputs=chosen, outputs=outputs, api_visibility="private")
        stop.click(lambda e, w: stop_experiment(context, e, w), inputs=[chosen, winner],
                   outputs=stopped, api_name="stop_experiment").then(
            show_stats, inputs=chosen, outputs=outputs, api_visibility="private")
