"""The explorer's colours, in a module of their own so that a first paint can use them without Plotly."""

# Ten distinct colours (Plotly's D3 palette) so digit classes 0-9 are told apart; cycled for more classes.
LABEL_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
PRIOR_COLOUR = "rgba(90, 90, 90, 0.35)"
