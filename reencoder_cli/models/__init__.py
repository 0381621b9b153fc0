"""The networks (autoencoder, latent modules, raw baseline, discriminators), latent arithmetic,
and the registry of stored arch names."""
