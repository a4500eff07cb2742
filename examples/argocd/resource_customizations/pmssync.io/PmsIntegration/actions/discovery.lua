-- Argo CD resource actions of a PmsIntegration: sync now, and suspend or resume (spec.enabled).
local actions = {}
actions["sync-now"] = {["disabled"] = false}
local enabled = obj.spec == nil or obj.spec.enabled ~= false
actions["suspend"] = {["disabled"] = not enabled}
actions["resume"] = {["disabled"] = enabled}
return actions
