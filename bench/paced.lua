-- read.lua at a fixed pace: each connection waits PAUSE_MS before each request.
-- wrk -s paced.lua URL -- PATHS_FILE PAUSE_MS
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "read.lua")

local pause = 0
local read_init = init

function init(args)
  read_init(args)
  pause = tonumber(args[2])
end

function delay()
  return pause
end
