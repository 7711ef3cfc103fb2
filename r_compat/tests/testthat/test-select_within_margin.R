test_that("select_within_margin leaves out failed candidates and accepts a lone one", {
  set.seed(1)
  s <- matrix(rep(c(0.80, 0.795, 0.70), each = 10) + rnorm(30, 0, 0.01), 10,
              dimnames = list(NULL, c("a", "b", "c")))
  s[, "c"][3] <- NA
  r <- select_within_margin(s, cost = c(5, 1, 0.1), margin = 0.02, n_train = 80, n_test = 20)
  expect_equal(r$candidate, "b")
  expect_equal(r$table$left_out, c(FALSE, FALSE, TRUE))
  expect_equal(r$table$candidate[3], "c")
  lone <- select_within_margin(s[, "a", drop = FALSE], cost = 1, rule = "one-se")
  expect_equal(lone$index, 1)
  expect_equal(nrow(lone$table), 1)
  expect_equal(select_within_margin(s[, c("a", "c")], cost = c(2, 1), margin = 0.01,
                                    n_train = 80, n_test = 20)$index, 1)
  expect_error(select_within_margin(s[, "c", drop = FALSE], cost = 1, rule = "one-se"), "every candidate")
  expect_error(select_within_margin(s, cost = 1:3, rule = "one-se", n_train = 80), "needs both")
})
