"""Waveform signal processing without models: the post-steps, content-band detection, classical baselines."""
