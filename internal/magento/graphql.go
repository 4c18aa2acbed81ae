package magento

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/magefleet/platform/internal/errs"
)

// GenerateCustomerTokenAsAdminMutation is the GraphQL document the client
// sends (module Magento_LoginAsCustomerGraphQl).
const GenerateCustomerTokenAsAdminMutation = `mutation GenerateCustomerTokenAsAdmin($email: String!) {
  generateCustomerTokenAsAdmin(input: {customer_email: $email}) {
    customer_token
  }
}`

// GraphQLRequest is the body POSTed to /graphql.
type GraphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
}

// GraphQLError is one entry of a GraphQL response's errors.
type GraphQLError struct {
	Message    string `json:"message"`
	Extensions struct {
		Category string `json:"category"`
	} `json:"extensions"`
}

type graphQLResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []GraphQLError  `json:"errors"`
}

// GenerateCustomerTokenAsAdmin returns a customer token for the customer with
// email, without their password, through the GraphQL mutation
// generateCustomerTokenAsAdmin. It authenticates with an admin user's token
// (integration tokens are refused by Magento), so admin_username and
// admin_password must be configured. Preconditions on Magento's side: Login as
// Customer enabled, the admin has Magento_LoginAsCustomer::login and
// ::allow_shopping_assistance, the customer exists and allowed remote
// shopping assistance. GraphQL errors map to errs codes by category:
// graphql-authorization → Unauthorized, graphql-input → Invalid,
// graphql-no-such-entity → NotFound.
func (c *Client) GenerateCustomerTokenAsAdmin(ctx context.Context, email string) (string, error) {
	var resp graphQLResponse
	body := GraphQLRequest{Query: GenerateCustomerTokenAsAdminMutation, OperationName: "GenerateCustomerTokenAsAdmin", Variables: map[string]any{"email": email}}
	// Issuing a token changes nothing else; it is safe to retry.
	cl := call{method: http.MethodPost, rawURL: c.origin + "/graphql", body: body, auth: authAdminUser, out: &resp, idempotent: true}
	if err := c.do(ctx, cl); err != nil {
		return "", err
	}
	if len(resp.Errors) > 0 {
		e := resp.Errors[0]
		code := errs.Invalid
		switch e.Extensions.Category {
		case "graphql-authorization", "graphql-authentication":
			code = errs.Unauthorized
		case "graphql-no-such-entity":
			code = errs.NotFound
		}
		msgs := make([]string, len(resp.Errors))
		for i, ge := range resp.Errors {
			msgs[i] = ge.Message
		}
		return "", &errs.Error{Code: code, Message: strings.Join(msgs, "; ")}
	}
	var data struct {
		GenerateCustomerTokenAsAdmin *struct {
			CustomerToken string `json:"customer_token"`
		} `json:"generateCustomerTokenAsAdmin"`
	}
	if err := json.Unmarshal(resp.Data, &data); err != nil || data.GenerateCustomerTokenAsAdmin == nil || data.GenerateCustomerTokenAsAdmin.CustomerToken == "" {
		return "", errs.E(errs.Internal, "Magento's generateCustomerTokenAsAdmin answer has no customer_token")
	}
	return data.GenerateCustomerTokenAsAdmin.CustomerToken, nil
}
