-- "Sync now": a new reconcile.pmssync.io/requestedAt token (the controller echoes it to
-- status.lastHandledReconcileAt once handled, even when disabled or failing).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["reconcile.pmssync.io/requestedAt"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
