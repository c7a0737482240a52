// Better-Auth's official client (better-auth/client, pinned in package-lock.json) calling
// signIn.social against edge, as a frontend written for Better-Auth would. Prints one JSON line
// {data, error}. EDGE_URL is where edge listens; PUBLIC_URL its public origin (sent as Origin,
// as a browser on that origin would).
import { createAuthClient } from "better-auth/client";

const client = createAuthClient({
  baseURL: process.env.EDGE_URL,
  fetchOptions: { headers: { origin: process.env.PUBLIC_URL } },
});
const { data, error } = await client.signIn.social({
  provider: process.env.PROVIDER,
  callbackURL: "/app",
  errorCallbackURL: "/sign-in",
});
console.log(JSON.stringify({ data, error }));
