"""Dataset-card template rendered by `stackpref build`, and the rendered card of the bundled sample."""
