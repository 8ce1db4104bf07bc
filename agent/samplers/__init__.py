"""One sampler per resource, all behind the ``Sampler`` protocol of
``hostvitals.agent.samplers.base``.

Each module separates the thin psutil read (the sampler's ``collect``) from a pure function
that turns psutil's results into rows, so the conversion is tested without a live system.
"""
