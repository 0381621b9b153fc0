"""Training data: the music cache (Debian packages, rendered MIDI), crops from it, packs for other machines, the latent cache."""
