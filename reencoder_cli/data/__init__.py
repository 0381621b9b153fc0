"""Training data: the music cache (Debian packages, rendered MIDI), its crops, packs, the latent cache."""
