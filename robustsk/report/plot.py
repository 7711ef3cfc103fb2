"""The report's figure: accuracy against eps, one panel per attack, one line per defense."""

__all__ = ["plot_curves"]


def plot_curves(results, labels, path, eps, title):
    """Write the accuracy-against-eps figure (shaded: 95% Wilson intervals) to ``path``.

    Parameters
    ----------
    results : pandas.DataFrame
        The report's results (columns ``defense``, ``attack``, ``eps``,
        ``accuracy``, ``ci_low``, ``ci_high``).
    labels : list of str
        The attacks' labels, one panel each (at least one panel is drawn).
    path : path
    eps : float
        The training eps (a dotted line).
    title : str
    """
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    labels = list(labels) or ["clean"]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.6),
                             sharey=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        rows = results[results["attack"] == label]
        for defense, curve in rows.groupby("defense", sort=False):
            curve = curve.sort_values("eps")
            line, = ax.plot(curve["eps"], curve["accuracy"], marker="o", label=defense)
            ax.fill_between(curve["eps"], curve["ci_low"], curve["ci_high"],
                            color=line.get_color(), alpha=0.15, linewidth=0)
        ax.axvline(eps, color="grey", linestyle=":", linewidth=1)
        ax.set_title(label)
        ax.set_xlabel("eps (Linf, [0, 1] pixels)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy")
    axes[0, -1].legend(loc="upper right", fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
