-- Argo CD health of a PmsIntegration (kstatus-style conditions written by pms-sync).
local hs = {}
if obj.spec ~= nil and obj.spec.enabled == false then
  hs.status = "Suspended"
  hs.message = "Integration disabled (spec.enabled: false)"
  return hs
end
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first sync"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to act on the latest spec"
  return hs
end
local ready = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Stalled" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = condition.reason .. ": " .. (condition.message or "")
    return hs
  end
  if condition.type == "Reconciling" and condition.status == "True" then
    hs.status = "Progressing"
    hs.message = condition.message or "Sync running"
    return hs
  end
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first sync"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Synced"
elseif ready.reason == "Disabled" then
  hs.status = "Suspended"
  hs.message = ready.message or "Integration disabled"
else
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. (ready.message or "")
end
return hs
