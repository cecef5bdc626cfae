"""Charts as PNG bytes, for /credit usage."""

from __future__ import annotations

import io


def daily_spend_png(by_day: list[tuple[str, int]], title: str) -> bytes:
    """A bar chart of credits spent per day.

    Built on a bare ``Figure`` rather than pyplot, whose global state is not safe to share:
    charts are drawn in worker threads so that the event loop keeps running meanwhile.
    """
    # Imported here: matplotlib takes about a second to import and only this command needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [day[5:] for day, _ in by_day]  # MM-DD
    values = [value for _, value in by_day]
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.bar(labels, values, color="#5865F2")
    axes.set_title(title)
    axes.set_ylabel("credits")
    axes.spines[["top", "right"]].set_visible(False)
    step = max(1, len(labels) // 10)
    axes.set_xticks(range(0, len(labels), step), labels[::step])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
