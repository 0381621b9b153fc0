"""Measuring: metrics, the evaluation tables, model costs, listening reports, figures, file probes."""
