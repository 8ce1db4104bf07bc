"""Who may call what: roles, the route table, credentials and the check in front of every route.

:mod:`.routes` maps every route to the least role it needs; :mod:`.middleware` enforces it for
every request before anything else sees it; :mod:`.store` keeps the API tokens and the agent
registry (hashes only) in the collector's state database.
"""
