// A real OpenID provider for stack's social sign-in tests: node-oidc-provider with its own
// development login and consent pages. Configured by the environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET  the one client (Gatehouse identity)
//   OIDC_REDIRECT_URI                   its redirect URI (<PUBLIC_URL>/api/auth/callback/<id>)
// It listens on an ephemeral port of 127.0.0.1 and prints one JSON line {"issuer": …} when ready.
//
// Accounts: any login works (the development pages accept any password). The login is the
// account's email address and subject; an address starting with "unverified" has
// email_verified=false, every other one true.
import http from "node:http";
import Provider from "oidc-provider";

const clientId = process.env.OIDC_CLIENT_ID;
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!clientId || !clientSecret || !redirectUri) {
  console.error("OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_REDIRECT_URI are required");
  process.exit(2);
}

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    // PKCE on every flow, as Gatehouse always sends it.
    pkce: { required: () => true },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: id,
            email_verified: !id.startsWith("unverified"),
            name: id.split("@")[0],
          };
        },
      };
    },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["gatehouse-test-only-cookie-key"] },
  });
  // Development-only warnings (dev interactions, generated keys) are expected here.
  provider.on("server_error", (_ctx, error) => console.error("oidc-provider:", error));
  server.on("request", provider.callback());
  console.log(JSON.stringify({ issuer }));
});
