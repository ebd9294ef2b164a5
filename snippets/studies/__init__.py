"""The studies: many seeded training runs of the notebook's MLP, their results files, and their report.

Running: ``configs`` (what each run trains), ``runs`` (one run, as a worker performs
it), ``results`` (results files, keys, provenance, a study's results, merging shards),
``executors`` (in this process, a local pool of worker processes, or a Dask cluster)
and ``study`` (which runs are due, handing them out, writing what comes back).
Reporting: ``statistics`` (over seeds), ``tables`` and ``figures`` (what the study
pages show), ``report`` (writes them into docs/generated, with provenance),
``generated`` (where they go and which page includes each), ``site_check`` (the built
pages show the results files' numbers) and ``performance`` (the performance page, from
the benchmark's file).
"""
