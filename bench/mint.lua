-- wrk script: mints single-use tokens at identity's /v1/token and writes each to a file of its
-- thread's own (args: file prefix, session token, request path, User-Agent).
local out, count
function init(args)
    local function escape(text)
        return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.body = "grant_type=" .. escape("urn:ietf:params:oauth:grant-type:token-exchange")
        .. "&subject_token=" .. escape(args[2])
        .. "&subject_token_type=" .. escape("urn:gatehouse:token-type:session")
        .. "&audience=core-api&request_method=GET&request_path=" .. escape(args[3])
        .. "&client_ip=127.0.0.1&user_agent=" .. escape(args[4])
    out = io.open(args[1] .. "." .. tostring({}):gsub("[^%w]", ""), "w")
    count = 0
end

function response(status, headers, body)
    local token = body:match('"access_token":"([^"]+)"')
    if token then
        out:write(token, "\n")
        count = count + 1
        if count % 500 == 0 then out:flush() end
    end
end

function done()
end
