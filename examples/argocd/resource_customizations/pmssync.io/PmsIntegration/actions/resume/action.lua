-- "Resume": spec.enabled true; a new generation, so a sync runs at once.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.enabled = true
return obj
