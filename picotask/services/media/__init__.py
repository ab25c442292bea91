"""Images: uploads, decoding, storage (a directory or S3), signed links, perceptual fingerprints."""
