-- wrk script: calls core-api directly with one fresh token per request, read from a file of
-- minted tokens split between the threads (args: tokens file, thread count, User-Agent).
local counter = 0
function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
end

local tokens, next_index, ua
function init(args)
    local threads = tonumber(args[2])
    tokens, next_index, ua = {}, 0, args[3]
    local n = 0
    for line in io.lines(args[1]) do
        if n % threads == tid then tokens[#tokens + 1] = line end
        n = n + 1
    end
end

function request()
    next_index = next_index + 1
    -- Past the last minted token a request replays the first one: core-api refuses it (Non-2xx).
    local token = tokens[next_index] or tokens[1]
    return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token, ["User-Agent"] = ua })
end
