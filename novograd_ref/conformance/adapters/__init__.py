"""How an implementation is reached: the adapter protocol, presets as adapters, the
loader of ``module:factory`` ports, and preset keywords."""
