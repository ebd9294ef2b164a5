"""The studies: many seeded training runs of the notebook's MLP, their results files, and where they run.

Modules: ``configs`` (what each run trains), ``runs`` (one run, as a worker performs
it), ``results`` (results files, keys, provenance, merging shards), ``executors``
(in this process, a local pool of worker processes, or a Dask cluster) and ``study``
(which runs are due, handing them out, writing what comes back).
"""
