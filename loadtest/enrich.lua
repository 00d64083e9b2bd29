-- Clicks for loadtest/enrich.sh (wrk -t1 -s enrich.lua URL -- MODE), through a trusted proxy's
-- X-Forwarded-For: "cached" one agent from one address; "mix" 300 agents, Zipf-skewed (s = 1), from
-- 4,096 public IPv4 addresses (PathFigures' mix); "distinct" a new agent on every click, same addresses.
local mode = "mix"
local agents, addresses, agentPicks, addressPicks = {}, {}, {}, {}
local counter = 0
local picks = 65536

local templates = {
    function(n) return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" .. n .. ".0.0.0 Safari/537.36" end,
    function(n) return "Mozilla/5.0 (iPhone; CPU iPhone OS 17_" .. n .. " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1" end,
    function(n) return "Mozilla/5.0 (Linux; Android 14; SM-S9" .. n .. ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36" end,
    function(n) return "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_" .. n .. ") AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15" end,
    function(n) return "Mozilla/5.0 (iPad; CPU OS 16_" .. n .. " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1" end,
    function(n) return "Mozilla/5.0 (X11; Linux x86_64; rv:" .. n .. ".0) Gecko/20100101 Firefox/121.0" end,
    function(n) return "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) v" .. n end,
}

function init(args)
    mode = args[1] or "mix"
    math.randomseed(13)
    for i = 0, 299 do agents[i + 1] = templates[(i % #templates) + 1](90 + math.floor(i / 7)) end
    local total, cumulative = 0, {}
    for i = 1, #agents do total = total + 1 / i; cumulative[i] = total end
    for i = 1, picks do
        local x, low, high = math.random() * total, 1, #agents
        while low < high do
            local middle = math.floor((low + high) / 2)
            if cumulative[middle] < x then low = middle + 1 else high = middle end
        end
        agentPicks[i] = low
    end
    for i = 1, 4096 do
        addresses[i] = math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
    end
    for i = 1, picks do addressPicks[i] = math.random(1, 4096) end
end

function request()
    counter = counter + 1
    local slot = (counter % picks) + 1
    local agent, address
    if mode == "cached" then
        agent, address = agents[1], "8.8.8.8"
    elseif mode == "distinct" then
        agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0." .. counter .. " Safari/537.36"
        address = addresses[addressPicks[slot]]
    else
        agent, address = agents[agentPicks[slot]], addresses[addressPicks[slot]]
    end
    return wrk.format("GET", "/click?offer_id=1&aff_id=7&sub1=k3x9q2mz", { ["User-Agent"] = agent, ["X-Forwarded-For"] = address })
end
