package statetable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/statetable"
)

// As DynamoDB, moto_server answers a Scan a page of at most 1 MB with the
// key to go on from, so whoever lists the table must follow
// LastEvaluatedKey: 25 items of 100 KiB take three pages on moto (where
// DynamoDB cuts a page exactly may differ by an item).
func TestScanPagesAtOneMegabyteOnMoto(t *testing.T) {
	t.Parallel()
	s := awstest.Stacks(t)[0]
	table, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
	require.NoError(t, err)
	ctx := context.Background()
	pad := statetable.String(strings.Repeat("x", 100<<10))
	for i := range 25 {
		_, err := table.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table.Name), Item: map[string]types.AttributeValue{
			statetable.KeyAttr: statetable.String(fmt.Sprintf("%s%d", statetable.AuthorityPrefix, i)), "pad": pad,
		}})
		require.NoError(t, err)
	}
	var pages []int
	var start map[string]types.AttributeValue
	for {
		out, err := table.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table.Name), ExclusiveStartKey: start})
		require.NoError(t, err)
		pages = append(pages, len(out.Items))
		if start = out.LastEvaluatedKey; start == nil {
			break
		}
	}
	assert.Equal(t, []int{9, 9, 7}, pages, "items per page")
}
