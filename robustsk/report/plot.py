"""The report's figure: robust accuracy against eps, one panel per attack, one curve per defense."""

__all__ = ["plot_curves", "MARKERS"]

#: Curves differ by marker and line style as well as colour (greyscale prints,
#: colour-blind readers).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
LINESTYLES = ("-", "--", "-.", ":")


def plot_curves(results, labels, path, eps, title, *, norm="inf", train_eps=None):
    """Write the robust-accuracy-against-eps figure to ``path``.

    Each curve is one defense's robust accuracy (the fraction of all test
    examples still classified correctly under the attack; at eps 0 the clean
    accuracy); the shaded band around it is the pointwise 95% Wilson interval
    of each point (not a simultaneous band). Curves differ by colour, marker
    and line style.

    Parameters
    ----------
    results : pandas.DataFrame
        The report's results (columns ``defense``, ``attack``, ``eps``,
        ``accuracy``, ``ci_low``, ``ci_high``).
    labels : list of str
        The attacks' labels, one panel each (at least one panel is drawn).
    path : path
    eps : float
        The radius of the summary table (a dotted line).
    title : str
    norm : {"inf", "2"}, default="inf"
        The ball of the attacks, for the x axis.
    train_eps : float, default=None
        The training radius, drawn as a dashed line when it differs from ``eps``.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (closed; its axes and artists can still be inspected).
    """
    import matplotlib
    matplotlib.use("Agg", force=True)
    from matplotlib.patches import Patch
    import matplotlib.pyplot as plt

    labels = list(labels) or ["clean"]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.8),
                             sharey=True, squeeze=False)
    ball = "Linf" if norm == "inf" else "L2"
    for ax, label in zip(axes[0], labels):
        rows = results[results["attack"] == label]
        for i, (defense, curve) in enumerate(rows.groupby("defense", sort=False)):
            curve = curve.sort_values("eps")
            line, = ax.plot(curve["eps"], curve["accuracy"], marker=MARKERS[i % len(MARKERS)],
                            linestyle=LINESTYLES[i % len(LINESTYLES)], label=defense)
            ax.fill_between(curve["eps"], curve["ci_low"], curve["ci_high"],
                            color=line.get_color(), alpha=0.15, linewidth=0)
        ax.axvline(eps, color="grey", linestyle=":", linewidth=1)
        if train_eps is not None and train_eps != eps:
            ax.axvline(train_eps, color="grey", linestyle="--", linewidth=1)
        ax.set_title(label)
        ax.set_xlabel(f"eps ({ball} radius, [0, 1] pixels)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("robust accuracy (eps 0: clean)")
    handles, names = axes[0, -1].get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.3))
    names.append("pointwise 95% Wilson interval")
    axes[0, -1].legend(handles, names, loc="upper right", fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig
