"""Loading landing files into the raw layer (see ``loader``)."""
