"""The use cases: what the service does, each taking only the collaborators it needs
(:mod:`hws.usecases.ports`), called by the API, the CLI and the worker alike.

- :mod:`~hws.usecases.intake` — record a received package (the step before ``202``);
- :mod:`~hws.usecases.import_processing` — validate it, open a service request or reject it;
- :mod:`~hws.usecases.examination` — the examiner's actions and the deadline sweep;
- :mod:`~hws.usecases.auto_examination` — the sandbox's automatic examiner;
- :mod:`~hws.usecases.publishing` — the weekly bulletin and confidential copies.
"""
