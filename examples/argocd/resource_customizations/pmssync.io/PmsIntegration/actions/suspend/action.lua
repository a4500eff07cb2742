-- "Suspend": spec.enabled false. No PMS or destination calls until resumed; every user stays.
-- With automated sync from Git, Git's value comes back unless the manifest changes too.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.enabled = false
return obj
