-- Argo CD resource actions of a PmsIntegration.
local actions = {}
actions["sync-now"] = {["disabled"] = false}
return actions
