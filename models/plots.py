"""Writing report figures: every PNG kefu draws is a `matplotlib.figure.Figure` (Agg canvas, no display)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save_figure(fig: Figure, path: Path | str, dpi: int = 110) -> Path:
    """Lay the figure out, write it to ``path`` (its folder made when missing) and return the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
