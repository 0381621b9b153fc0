"""Files and streams: audio read/write/resampling, latent files, weights files, atomic temporaries, I/O threads."""
