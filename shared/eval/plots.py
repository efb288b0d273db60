"""PNG plots of measured values from plain data (matplotlib, Agg backend: no display needed).

    from shared.eval.plots import Interval, interval_plot, stacked_bars
    interval_plot("elo.png", {"benchmark A": [Interval("model x", 1020.0, 930.0, 1110.0, reference=1022)]},
                  xlabel="Elo")
    stacked_bars("memory.png", ["7B", "13B"], {"weights": [3.9, 7.2], "optimizer": [1.3, 2.0]},
                 separate=["optimizer"], references=[6.9, 11.3], hlines=[(48, "limit")], ylabel="GB")

Both write the PNG (creating its folder) and return its path. Nothing here knows a paper: callers pass names,
values and labels read from their own result files.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Collection, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

DPI = 120
# Components' colours in order (colour-blind friendly, Okabe-Ito); a hatched component keeps its colour.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#999999", "#56B4E9", "#F0E442", "#000000")
REFERENCE_COLOUR = "#D55E00"
INTERVAL_COLOUR = "#56B4E9"


@dataclasses.dataclass(frozen=True)
class Interval:
    """One name's value with its interval [low, high] and, optionally, a reference value to compare with."""

    name: str
    value: float
    low: float
    high: float
    reference: float | None = None


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" metadata: the file depends only on the data (and the matplotlib version's rendering).
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def interval_plot(path, panels: Mapping[str, Sequence[Interval]], *, xlabel: str = "", title: str = "",
                  value_label: str = "value", interval_label: str = "interval", reference_label: str = "reference",
                  show_difference: bool = True, note: str | None = None) -> pathlib.Path:
    """One horizontal panel per entry of `panels` (side by side, sharing the x axis), one row per Interval in the
    given order, top to bottom: a dot at `value`, a bar from `low` to `high`, and a diamond at `reference` where
    there is one. show_difference writes value - reference at the right end of each row that has a reference.
    `note` goes under the plot (e.g. where the numbers come from)."""
    if not panels:
        raise ValueError("interval_plot: no panels")
    rows = max(len(v) for v in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 0.9 + 0.42 * rows), sharex=True,
                             squeeze=False)
    handles = {}
    for ax, (panel, items) in zip(axes[0], panels.items()):
        ys = list(range(len(items)))[::-1]
        for y, it in zip(ys, items):
            bar = ax.errorbar([it.value], [y], xerr=[[it.value - it.low], [it.high - it.value]], fmt="o", ms=6,
                              color=COLOURS[0], ecolor=INTERVAL_COLOUR, elinewidth=3, capsize=4, zorder=2)
            handles.setdefault("value", bar)
            if it.reference is not None:
                ref = ax.scatter([it.reference], [y], marker="D", s=36, facecolor="none",
                                 edgecolor=REFERENCE_COLOUR, linewidth=1.6, zorder=3)
                handles.setdefault("reference", ref)
        ax.set_yticks(ys, [it.name for it in items])
        ax.set_ylim(-0.7, max(len(items), 1) - 0.3)
        ax.set_title(panel)
        ax.grid(axis="x", alpha=0.3)
        if xlabel:
            ax.set_xlabel(xlabel)
        if show_difference and any(it.reference is not None for it in items):
            right = ax.secondary_yaxis("right")
            right.set_yticks(ys, [f"{it.value - it.reference:+.1f}" if it.reference is not None else ""
                                  for it in items])
            right.tick_params(length=0, labelsize=8, colors=REFERENCE_COLOUR)
            right.set_ylabel(f"{value_label} − {reference_label}", fontsize=8, color=REFERENCE_COLOUR)
    labels = {"value": f"{value_label} ({interval_label})", "reference": reference_label}
    fig.legend([handles[k] for k in labels if k in handles], [labels[k] for k in labels if k in handles],
               loc="lower center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    if note:
        fig.text(0.5, -0.05, note, ha="center", va="top", fontsize=8, wrap=True)
    return _save(fig, path)


def stacked_bars(path, groups: Sequence[str], stacks: Mapping[str, Sequence[float]], *,
                 separate: Collection[str] = (), separate_label: str = "hatched", references: Sequence[float | None]
                 | None = None, reference_label: str = "reference", hlines: Sequence[tuple[float, str]] = (),
                 ylabel: str = "", title: str = "", note: str | None = None, fmt: str = "{:.1f}") -> pathlib.Path:
    """One bar per group, stacked from the components of `stacks` ({component: one value per group}) in order.
    Components named in `separate` are drawn hatched, on top of the others (e.g. what is held elsewhere); each bar is
    labelled with the sum of the others and, when there are separate ones, the total ("41.9 (+6.4 = 48.3)").
    `references` puts a marker at one value per group (None: none); `hlines` draws a dashed line per (value, label)."""
    if not groups:
        raise ValueError("stacked_bars: no groups")
    for name, values in stacks.items():
        if len(values) != len(groups):
            raise ValueError(f"stacked_bars: {name!r} has {len(values)} values for {len(groups)} groups")
    if references is not None and len(references) != len(groups):
        raise ValueError(f"stacked_bars: {len(references)} references for {len(groups)} groups")
    order = [n for n in stacks if n not in separate] + [n for n in stacks if n in separate]
    fig, ax = plt.subplots(figsize=(3.6 + 1.5 * len(groups), 4.8))
    xs = list(range(len(groups)))
    bottom = [0.0] * len(groups)
    for i, name in enumerate(order):
        values = [float(v) for v in stacks[name]]
        hatched = name in separate
        colour = COLOURS[list(stacks).index(name) % len(COLOURS)]
        ax.bar(xs, values, 0.6, bottom=bottom, color=colour, alpha=0.45 if hatched else 1.0,
               hatch="//" if hatched else None, edgecolor=colour if hatched else "white", linewidth=0.8,
               label=f"{name} ({separate_label})" if hatched else name)
        bottom = [b + v for b, v in zip(bottom, values)]
    top = max(bottom)
    marks = [max(b, r if r is not None else 0.0) for b, r in zip(bottom, references or [None] * len(groups))]
    for x in xs:
        inside = sum(float(stacks[n][x]) for n in stacks if n not in separate)
        outside = sum(float(stacks[n][x]) for n in stacks if n in separate)
        text = fmt.format(inside) + (f" (+{fmt.format(outside)} = {fmt.format(inside + outside)})" if separate
                                     else "")
        ax.annotate(text, (x, marks[x]), xytext=(0, 7), textcoords="offset points", ha="center", va="bottom",
                    fontsize=8)
    if references is not None and any(r is not None for r in references):
        ref_x = [x for x, r in zip(xs, references) if r is not None]
        ax.scatter(ref_x, [r for r in references if r is not None], marker="D", s=42, facecolor="none",
                   edgecolor=REFERENCE_COLOUR, linewidth=1.8, zorder=4, label=reference_label)
    for i, (value, label) in enumerate(hlines):
        ax.axhline(value, color="black" if i == 0 else COLOURS[4], linestyle="--", linewidth=1.2, label=label,
                   zorder=1)
        top = max(top, value)
    ax.set_xticks(xs, list(groups))
    ax.set_ylim(0, top * 1.12)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if note:
        fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=8, wrap=True)
    fig.tight_layout()
    return _save(fig, path)
