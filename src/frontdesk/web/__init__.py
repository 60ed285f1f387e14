"""The web app: operations endpoints now; tenant, operator and dashboard pages later."""
