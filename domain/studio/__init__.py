"""Studio engine: image and clip generation, costs and final-video composition."""
