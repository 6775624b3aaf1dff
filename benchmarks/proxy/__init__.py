"""Parts of the proxy benchmark: static upstream, pass-throughs, load generator, report."""
