"""The package rules, as named checks, one concern per module; each takes the
:class:`~hws.st96.rules.context.RuleContext` of the document and appends its problems.

- :mod:`~hws.st96.rules.root` — the root element and the ST.96 version;
- :mod:`~hws.st96.rules.transaction` — header and bag, then the transaction's own rules;
- :mod:`~hws.st96.rules.office` — the sending office;
- :mod:`~hws.st96.rules.references` — references between the XML and the files;
- :mod:`~hws.st96.rules.application` and :mod:`~hws.st96.rules.decision` — each transaction;
- :mod:`~hws.st96.rules.designs` and :mod:`~hws.st96.rules.documents` — what both carry.
"""
