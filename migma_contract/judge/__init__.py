"""The one judge: what a request deserves, and what each party of one exchange owed.

Every way in (the check, the proxy, `judge`, the middleware, the Schemathesis checks and
the reference mock's own refusals) asks this package; the status a request deserves is
decided here once, from the rules' `expected_status`.
"""
