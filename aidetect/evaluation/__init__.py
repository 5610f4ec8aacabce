"""The thesis's evaluation (chapter 4) as library calls: metrics, tables, sweeps, ablations."""
